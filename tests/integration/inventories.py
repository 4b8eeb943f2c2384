"""S3 Inventory reports written the way S3 writes them, into moto (which never makes reports).

A report is a `manifest.json` in a destination bucket naming its data files: gzipped CSV with
every field quoted and keys URL-encoded as a form encodes them (a space is `+`), or Parquet or
ORC with plain keys and snake_case column names. `items` reads a CSV report back as a Step
Functions Distributed Map's ItemReader hands it to the function: one object of strings per row.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import boto3

from tests.support.aws import unique

VERSIONED_FIELDS = (
    "Bucket",
    "Key",
    "VersionId",
    "IsLatest",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
)
FIELDS = ("Bucket", "Key", "Size", "LastModifiedDate")
HELD_BACK = ".held-back"
_PARQUET_TYPES = {
    "bucket": "required binary bucket (STRING)",
    "key": "required binary key (STRING)",
    "version_id": "optional binary version_id (STRING)",
    "is_latest": "required boolean is_latest",
    "is_delete_marker": "required boolean is_delete_marker",
    "size": "optional int64 size",
    "last_modified_date": "optional int64 last_modified_date (TIMESTAMP(MILLIS,true))",
}
_ORC_TYPES = {
    "bucket": "string",
    "key": "string",
    "version_id": "string",
    "is_latest": "boolean",
    "is_delete_marker": "boolean",
    "size": "bigint",
    "last_modified_date": "timestamp",
}


@dataclass(frozen=True, slots=True)
class Listed:
    """One row of a report: an object version, or a delete marker (no size)."""

    key: str
    size: int | None
    latest: bool = True
    delete_marker: bool = False


def just_after_the_uploads() -> datetime:
    """A report taken once the test's uploads are done. S3 dates objects to the second, and an
    object dated in the report's own second counts as newer than it, so the report is dated
    into the next one."""
    return datetime.now(UTC) + timedelta(seconds=2)


def write_inventory(
    source_bucket: str,
    objects: Sequence[Listed],
    *,
    file_format: str = "CSV",
    files: int = 1,
    taken: datetime | None = None,
    versioned: bool = False,
    held_back: Sequence[int] = (),
) -> str:
    """Write a report of `source_bucket` listing `objects`, in order, across `files` data files
    into a new destination bucket; the manifest's s3:// address. Files whose index is in
    `held_back` are named in the manifest but put elsewhere until `release_held_back`: reading
    them fails, as a crash would."""
    client = boto3.client("s3")
    destination = unique("inventory")
    client.create_bucket(Bucket=destination)
    base = f"reports/{source_bucket}/daily"
    taken = taken or just_after_the_uploads()
    names = [
        _column(name) if file_format != "CSV" else name
        for name in (VERSIONED_FIELDS if versioned else FIELDS)
    ]
    per_file = -(-len(objects) // files) or 1
    parts = [objects[index * per_file : (index + 1) * per_file] for index in range(files)]
    entries = []
    for index, part in enumerate(parts):
        suffix = {"CSV": "csv.gz", "Parquet": "parquet", "ORC": "orc"}[file_format]
        key = f"{base}/data/part-{index:03}.{suffix}"
        body = _data_file(file_format, names, [_row(source_bucket, o, taken) for o in part])
        where = key + HELD_BACK if index in held_back else key
        client.put_object(Bucket=destination, Key=where, Body=body)
        entries.append({"key": key, "size": len(body), "MD5checksum": "0" * 32})
    manifest = {
        "sourceBucket": source_bucket,
        "destinationBucket": f"arn:aws:s3:::{destination}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(taken.timestamp() * 1000)),
        "fileFormat": file_format,
        "fileSchema": _schema(file_format, names),
        "files": entries,
    }
    manifest_key = f"{base}/{taken:%Y-%m-%dT%H-%MZ}/manifest.json"
    client.put_object(Bucket=destination, Key=manifest_key, Body=json.dumps(manifest).encode())
    return f"s3://{destination}/{manifest_key}"


def release_held_back(manifest_url: str) -> None:
    """Put the held-back data files where the manifest names them."""
    client = boto3.client("s3")
    bucket = manifest_url.removeprefix("s3://").partition("/")[0]
    for found in client.list_objects_v2(Bucket=bucket).get("Contents", []):
        if found["Key"].endswith(HELD_BACK):
            client.copy_object(
                Bucket=bucket,
                Key=found["Key"].removesuffix(HELD_BACK),
                CopySource={"Bucket": bucket, "Key": found["Key"]},
            )


def put_manifest(document: Any) -> str:
    """Put anything where a manifest would be; its s3:// address."""
    client = boto3.client("s3")
    destination = unique("inventory")
    client.create_bucket(Bucket=destination)
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    client.put_object(Bucket=destination, Key="reports/manifest.json", Body=body)
    return f"s3://{destination}/reports/manifest.json"


def items(manifest_url: str) -> list[dict[str, str]]:
    """A CSV report's rows as a Distributed Map's ItemReader (InputType MANIFEST) gives them:
    named by the manifest's fileSchema, every value a string as the file holds it."""
    client = boto3.client("s3")
    bucket, _, key = manifest_url.removeprefix("s3://").partition("/")
    manifest = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    names = [name.strip() for name in manifest["fileSchema"].split(",")]
    found = []
    for entry in manifest["files"]:
        body = client.get_object(Bucket=bucket, Key=entry["key"])["Body"].read()
        text = io.StringIO(gzip.decompress(body).decode())
        found += [dict(zip(names, row, strict=True)) for row in csv.reader(text)]
    return found


def _column(name: str) -> str:
    return {
        "VersionId": "version_id",
        "IsLatest": "is_latest",
        "IsDeleteMarker": "is_delete_marker",
        "LastModifiedDate": "last_modified_date",
    }.get(name, name.lower())


def _row(bucket: str, listed: Listed, taken: datetime) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "key": listed.key,
        "versionid": "v1" if listed.latest else "v0",
        "islatest": listed.latest,
        "isdeletemarker": listed.delete_marker,
        "size": listed.size,
        "lastmodifieddate": taken - timedelta(hours=1),
    }


def _data_file(file_format: str, names: Sequence[str], rows: list[dict[str, Any]]) -> bytes:
    fields = [name.replace("_", "").lower() for name in names]
    if file_format == "CSV":
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for row in rows:
            writer.writerow([_csv_value(field, row[field]) for field in fields])
        return gzip.compress(out.getvalue().encode())
    import pyarrow as pa

    table = pa.table(
        {name: [row[field] for row in rows] for name, field in zip(names, fields, strict=True)}
    )
    sink = io.BytesIO()
    if file_format == "Parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    else:
        import pyarrow.orc as orc

        orc.write_table(table, sink)
    return sink.getvalue()


def _csv_value(field: str, value: Any) -> str:
    if field == "key":
        return quote_plus(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return "" if value is None else str(value)


def _schema(file_format: str, names: Sequence[str]) -> str:
    if file_format == "CSV":
        return ", ".join(names)
    if file_format == "Parquet":
        return "message s3.inventory { " + " ".join(f"{_PARQUET_TYPES[n]};" for n in names) + " }"
    return "struct<" + ",".join(f"{name}:{_ORC_TYPES[name]}" for name in names) + ">"
