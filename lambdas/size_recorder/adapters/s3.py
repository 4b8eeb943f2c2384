"""S3 reads for backfill and check: listing pages, HEAD requests, and inventory reports' files.

boto3 is imported on first use, and clients honour its standard settings (`AWS_ENDPOINT_URL`,
profiles, region). Listing keys come back decoded: botocore asks for URL-encoded keys and
decodes them itself, so keys with control characters survive the XML.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from size_recorder.adapters.presigned import SignedGet

# ListObjectsV2 returns at most this many keys per request.
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int


def s3_client(*, connections: int | None = None) -> Any:
    """A new client: the operator commands run once per process, so there is nothing to cache.

    `connections`: the HTTP connections it may keep open, at least one per thread sharing it
    (botocore's default is 10).
    """
    import boto3

    if connections is None:
        return boto3.client("s3")
    from botocore.config import Config

    return boto3.client("s3", config=Config(max_pool_connections=connections))


def list_pages(
    client: Any,
    *,
    bucket: str,
    prefix: str = "",
    page_size: int = MAX_PAGE_SIZE,
    start_after: str | None = None,
) -> Iterator[list[ListedObject]]:
    """One list per ListObjectsV2 request, in key order; `start_after` resumes a walk."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    if start_after:
        params["StartAfter"] = start_after
    while True:
        response = client.list_objects_v2(**params)
        yield [ListedObject(o["Key"], int(o["Size"])) for o in response.get("Contents", [])]
        if not response.get("IsTruncated"):
            return
        params.pop("StartAfter", None)
        params["ContinuationToken"] = response["NextContinuationToken"]


def head_size(client: Any, *, bucket: str, key: str) -> int | None:
    """The object's size, or None when it no longer exists; other errors (403, 5xx) raise."""
    state = head_object(client, bucket=bucket, key=key)
    return None if state is None else state.size


@dataclass(frozen=True, slots=True)
class ObjectState:
    """What one HEAD says about an object's current version."""

    size: int
    last_modified: datetime  # timezone-aware; S3 gives whole seconds


def head_object(client: Any, *, bucket: str, key: str) -> ObjectState | None:
    """The object's size and last-modified time, or None when it no longer exists; other errors
    (403, 5xx) raise."""
    from botocore.exceptions import ClientError

    try:
        response = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return ObjectState(int(response["ContentLength"]), response["LastModified"])


# --- S3 Inventory reports ------------------------------------------------------------------------


def read_object(client: Any, *, bucket: str, key: str) -> bytes:
    """A small object's whole content (an inventory's manifest.json)."""
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


@dataclass(frozen=True, slots=True)
class StoredObject:
    body: bytes
    last_modified: datetime  # timezone-aware: when it was written


def read_if_present(client: Any, *, bucket: str, key: str) -> StoredObject | None:
    """A small object's content and when it was written (a reconciliation's latest summary),
    or None when there is no such object; other errors (403, no such bucket) raise."""
    from botocore.exceptions import ClientError

    try:
        response = client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey"}:
            return None
        raise
    return StoredObject(response["Body"].read(), response["LastModified"])


def open_object(client: Any, *, bucket: str, key: str) -> IO[bytes]:
    """An object's content as a stream read as it arrives: nothing is held beyond what the
    reader asks for."""
    stream: IO[bytes] = client.get_object(Bucket=bucket, Key=key)["Body"]
    return stream


def read_lines(client: Any, *, bucket: str, key: str) -> Iterator[bytes]:
    """An object's lines (JSON Lines: a Map Run's results), each read as it arrives."""
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        # 64 KiB reads: botocore's default of 1 KiB costs a call per line of results.
        yield from body.iter_lines(chunk_size=1 << 16)
    finally:
        body.close()


def write_object(
    client: Any, *, bucket: str, key: str, body: bytes, content_type: str = "application/json"
) -> None:
    """Put a small object (a reconciliation's summary) whole."""
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def download(
    client: Any, *, bucket: str, key: str, into: IO[bytes], on_bytes: Callable[[int], None]
) -> None:
    """Copy an object into a file (Parquet and ORC readers need to seek, a stream cannot);
    `on_bytes` receives the bytes as they arrive."""
    client.download_fileobj(bucket, key, into, Callback=on_bytes)


def url_signer(client: Any, *, bucket: str, expires_s: int) -> Callable[[str], SignedGet]:
    """Sign GETs of `bucket`'s objects, each valid `expires_s` seconds, with the credentials a
    client made like `client` uses, for a process without boto3 (`presigned.open_get`).

    One request (HeadBucket) first: a signature names the bucket's region, and S3 refuses one
    naming another, where a client's own requests are redirected. SigV4 always: botocore still
    presigns with SigV2 in us-east-1, which S3 refuses for SSE-KMS objects and newer regions.
    With temporary credentials a URL dies with the session that signed it, whatever
    `expires_s` says: sign just before use, and botocore's refresh (from 15 minutes before they
    expire) leaves a fresh signature minutes at least. SSE-KMS objects need the signer's
    `kms:Decrypt`, as a client's GET would; a bucket policy refusing query-string
    authentication (`s3:authType`) refuses these URLs.
    """
    import boto3
    from botocore.config import Config

    from size_recorder.adapters.presigned import SignedGet

    region = _bucket_region(client, bucket)
    signing = boto3.client("s3", region_name=region, config=Config(signature_version="s3v4"))
    trusted = ca_bundle(signing)

    def sign(key: str) -> SignedGet:
        url: str = signing.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )
        return SignedGet(url, trusted)

    return sign


def _bucket_region(client: Any, bucket: str) -> str | None:
    """The bucket's region, as botocore's redirects learn it: S3 names it in HeadBucket's
    response, a 403 included (GetObject alone does not need ListBucket)."""
    from botocore.exceptions import ClientError

    try:
        response = client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        response = exc.response
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    region: str | None = headers.get("x-amz-bucket-region") or client.meta.region_name
    return region


def ca_bundle(client: Any) -> str | None:
    """The CA file `client` verifies HTTPS against (`ca_bundle` in the profile, AWS_CA_BUNDLE,
    REQUESTS_CA_BUNDLE, else certifi's), for another HTTP client to trust the same; None when
    it does not verify (the other then trusts the system's store: it verifies all the same).
    botocore resolves it into the client's HTTP session and offers no public way to read it
    back."""
    from botocore.httpsession import get_cert_path

    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    verify = getattr(session, "_verify", True)
    if verify is False:
        return None
    path: str = get_cert_path(verify)
    return path


# --- EventBridge on an existing bucket ---------------------------------------------------------

# What a bucket's notification configuration holds besides EventBridge: (kind, ARN field).
NOTIFICATION_KINDS = {
    "QueueConfigurations": ("queue", "QueueArn"),
    "TopicConfigurations": ("topic", "TopicArn"),
    "LambdaFunctionConfigurations": ("lambda", "LambdaFunctionArn"),
}
EVENTBRIDGE_CONFIGURATION = "EventBridgeConfiguration"


@dataclass(frozen=True, slots=True)
class KeptNotification:
    """One of the bucket's own notifications, written back as it was."""

    kind: str  # queue, topic or lambda
    id: str | None
    destination: str
    events: tuple[str, ...]
    filter_rules: tuple[tuple[str, str], ...]  # (Prefix or Suffix, value)


@dataclass(frozen=True, slots=True)
class EventBridgeChange:
    bucket: str
    enabled_before: bool
    enabled_after: bool
    kept: tuple[KeptNotification, ...]
    dry_run: bool

    @property
    def changed(self) -> bool:
        return self.enabled_after and not self.enabled_before


class NotificationsChangedError(RuntimeError):
    """The bucket's configuration read back after the write is not what was written: someone
    else changed it at the same moment."""


def enable_eventbridge(client: Any, *, bucket: str, dry_run: bool = False) -> EventBridgeChange:
    """Turn on the bucket's events to EventBridge, keeping every other notification it has.

    PutBucketNotificationConfiguration replaces the whole configuration, so this reads it,
    adds `EventBridgeConfiguration` and writes everything back, then reads it again to confirm.
    A bucket already sending to EventBridge is left untouched; `dry_run` only reads. S3 has no
    conditional write for this configuration: a change another tool makes between the read and
    the write is lost, so run this while nothing else edits the bucket's notifications.
    """
    config = _notification_configuration(client, bucket)
    kept = _kept(config)
    enabled = EVENTBRIDGE_CONFIGURATION in config
    if enabled or dry_run:
        return EventBridgeChange(bucket, enabled, enabled, kept, dry_run)
    client.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={**config, EVENTBRIDGE_CONFIGURATION: {}},
        # The destinations are the bucket's own, unchanged: re-validating them would send each
        # a new s3:TestEvent, and fail on one that broke since it was added.
        SkipDestinationValidation=True,
    )
    after = _notification_configuration(client, bucket)
    if EVENTBRIDGE_CONFIGURATION not in after or not set(kept) <= set(_kept(after)):
        raise NotificationsChangedError(
            f"bucket {bucket}: its notification configuration changed while EventBridge was"
            " being enabled; compare it with the notifications listed as kept"
        )
    return EventBridgeChange(bucket, False, True, kept, dry_run)


def _notification_configuration(client: Any, bucket: str) -> dict[str, Any]:
    response = client.get_bucket_notification_configuration(Bucket=bucket)
    return {name: value for name, value in response.items() if name != "ResponseMetadata"}


def _kept(config: dict[str, Any]) -> tuple[KeptNotification, ...]:
    return tuple(
        KeptNotification(
            kind=kind,
            id=item.get("Id"),
            destination=item[arn_field],
            events=tuple(item.get("Events", ())),
            filter_rules=tuple(
                (rule["Name"], rule["Value"])
                for rule in item.get("Filter", {}).get("Key", {}).get("FilterRules", ())
            ),
        )
        for section, (kind, arn_field) in NOTIFICATION_KINDS.items()
        for item in config.get(section, ())
    )
