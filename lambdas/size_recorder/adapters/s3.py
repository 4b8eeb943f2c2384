"""S3 reads for backfill and check: listing pages and HEAD requests, each one request counted.

boto3 is imported on first use, and clients honour its standard settings (`AWS_ENDPOINT_URL`,
profiles, region). Listing keys come back decoded: botocore asks for URL-encoded keys and
decodes them itself, so keys with control characters survive the XML.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# ListObjectsV2 returns at most this many keys per request.
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ListedObject:
    key: str
    size: int


def s3_client() -> Any:
    """A new client: the operator commands run once per process, so there is nothing to cache."""
    import boto3

    return boto3.client("s3")


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
    from botocore.exceptions import ClientError

    try:
        response = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return int(response["ContentLength"])
