"""The settings every bucket the construct makes shares (the recorder's, its access logs', the
reconciliation's inventory destination)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aws_cdk import aws_s3 as s3
from constructs import Construct

# Encrypted, private, TLS only. SSE-S3 because server access logs cannot be delivered to a
# KMS-encrypted bucket, and the data bucket's objects are the app's own uploads.
HARDENED_BUCKET: Final[Mapping[str, Any]] = {
    "encryption": s3.BucketEncryption.S3_MANAGED,
    "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
    "enforce_ssl": True,
}


def hardened_bucket(scope: Construct, id: str, **keywords: Any) -> s3.Bucket:
    """A bucket with `HARDENED_BUCKET`'s settings and `keywords`."""
    return s3.Bucket(scope, id, **{**HARDENED_BUCKET, **keywords})
