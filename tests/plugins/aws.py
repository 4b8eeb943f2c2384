"""An AWS environment that can only ever reach moto, and moto's server for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _aws_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may find real credentials or a real account: moto is the only AWS here."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "SizeRecorderTests")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "size-recorder")
    # Clients are cached per process, as in Lambda; each test gets ones built for its endpoint.
    from size_recorder.adapters import sqs

    sqs.sqs_client.cache_clear()
    sqs.queue_url_from_arn_cache_clear()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1 (a free port): real HTTP, S3 → SQS notifications included.

    Shared by the session; tests keep apart by naming their own buckets and queues.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
