"""Figure: `check` and `backfill` from an S3 Inventory report of 10,000,000 objects (opt-in:
`python -m benchmarks --only inventory`, or `python -m benchmarks.inventory [--quick]`).

A 10,000,000-row Django-shaped table (filled by `generate_series`, sizes set, the key indexed)
and a CSV inventory report of the same objects: gzipped parts written straight into moto's
in-process backend, with a manifest dated after the objects it lists. A row in every 100,000
holds a wrong size (its object is in moto, so the HEAD that confirms it finds it) and a few rows
name objects the report lacks (gone: the HEAD finds nothing). Each measured run is the real
console script in a child process against moto's server, timed around it, its peak RSS read
from its own `VmHWM`:

- `check --inventory` with 1 and with 4 workers: wall time, rows/s, peak RSS;
- `backfill --inventory` of the 1,000,000 rows set NULL (one in ten), 4 workers;
- a Parquet report of the first tenth of the objects through the same path (`check`, 4 workers,
  `--prefix` so its scope is those rows);
- next to `backfill --method list` on 100,000 objects, seeded the way figure 7 seeds them.

`BENCH_INVENTORY_OBJECTS` sets another size (say 1000000 on a slow machine); the targets (5
minutes, 300 MB) are for 10,000,000 and are only shown there.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from benchmarks.backfill import _seed as seed_listing
from benchmarks.context import QUICK, Bench
from benchmarks.environment import (
    KEY_PREFIX,
    NAME_DIGITS,
    Documents,
    create_unindexed_table,
    object_name,
)
from benchmarks.report import Row

FIGURE = "inventory"
TARGET_OBJECTS = 10_000_000
TARGET_WALL_S = 300.0
TARGET_RSS_MB = 300.0
# The console script in a child, which writes its peak RSS (kB) to the file BENCH_PEAK_FILE
# names as it exits: VmHWM, its own address space's high-water mark. (getrusage's ru_maxrss
# survives execve, so a child of this process would report this process's peak, moto's objects
# and all, however small the child stays.)
_CLI = r"""
import atexit, os, re, sys
from pathlib import Path

def peak():
    status = Path("/proc/self/status").read_text()
    Path(os.environ["BENCH_PEAK_FILE"]).write_text(re.search(r"VmHWM:\s+(\d+)", status)[1])

atexit.register(peak)
from size_recorder.cli import main
sys.exit(main())
"""


@dataclass(frozen=True, slots=True)
class InventorySizes:
    objects: int  # in the CSV report, and rows in the table
    files: int  # CSV data files in the report
    drift_every: int  # one row in this many holds a wrong size
    gone: int  # rows naming objects that neither the report nor S3 has
    null_every: int  # backfill: one row in this many is set NULL
    listed: int  # the --method list baseline's objects
    workers: tuple[int, ...] = (1, 4)


FULL = InventorySizes(
    objects=TARGET_OBJECTS, files=10, drift_every=100_000, gone=10, null_every=10, listed=100_000
)
QUICK_SIZES = InventorySizes(
    objects=2_000, files=2, drift_every=500, gone=2, null_every=10, listed=100
)


def sizes_for(bench: Bench) -> InventorySizes:
    if bench.sizes == QUICK:
        return QUICK_SIZES
    objects = int(os.environ.get("BENCH_INVENTORY_OBJECTS", FULL.objects))
    return FULL if objects == FULL.objects else _scaled(objects)


def _scaled(objects: int) -> InventorySizes:
    return InventorySizes(
        objects=objects,
        files=FULL.files,
        drift_every=max(1, objects // 100),
        gone=FULL.gone,
        null_every=FULL.null_every,
        listed=FULL.listed,
    )


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float
    peak_rss_mb: float  # the command's own process
    peak_total_mb: float  # it and its worker processes together (PSS, sampled)
    cpu_seconds: float  # user and system time of it and its worker processes
    summary: dict[str, Any]


def run(bench: Bench) -> list[Row]:
    sizes = sizes_for(bench)
    endpoint = bench.moto()
    rows: list[Row] = []
    with _sized_table(bench.database_url, sizes) as table:
        source = _source_bucket(endpoint, sizes)
        env = {**os.environ, **table.recorder_env(), "AWS_ENDPOINT_URL": endpoint}
        csv_report = _report(endpoint, source, sizes, "CSV")
        checks = {
            workers: _cli(env, "check", "--inventory", csv_report, "--workers", str(workers))
            for workers in sizes.workers
        }
        parquet_objects, parquet_prefix = _parquet_scope(sizes)
        parquet = _cli(
            env,
            "check",
            "--inventory",
            _report(endpoint, source, sizes, "Parquet", objects=parquet_objects),
            "--prefix",
            parquet_prefix,
            "--workers",
            "4",
        )
        nulled = _set_null(table, sizes)
        backfill = _cli(env, "backfill", "--inventory", csv_report, "--workers", "4")
    if backfill.summary["filled"] != nulled:
        raise RuntimeError(f"backfill filled {backfill.summary['filled']} of {nulled} rows")
    listed = _list_baseline(bench, sizes)
    list_rate = sizes.listed / listed.seconds
    baseline: dict[str, Any] = {
        "baseline": list_rate,
        "baseline_label": f"--method list, {sizes.listed:,} objects",
    }
    at_target = sizes.objects == TARGET_OBJECTS
    for workers, measured in checks.items():
        what = f"check --inventory, {sizes.objects:,} objects, {workers} worker(s)"
        found = measured.summary
        note = (
            f"{found['rows_differing']} differing, {found['rows_object_gone']} gone,"
            f" {found['s3_requests']} S3 requests"
        )
        rows += _rows(what, measured, sizes.objects, at_target=at_target, note=note, **baseline)
    rows += _rows(
        f"check --inventory (Parquet), {parquet_objects:,} objects, 4 workers",
        parquet,
        parquet_objects,
        at_target=False,
        note=f"--prefix {parquet_prefix}",
        **baseline,
    )
    rows += _rows(
        f"backfill --inventory, {nulled:,} NULL rows of {sizes.objects:,}, 4 workers",
        backfill,
        nulled,
        at_target=False,
        note="rows filled per second",
        **baseline,
    )
    rows.append(
        Row(
            figure=FIGURE,
            measure=f"backfill --method list, {sizes.listed:,} objects: peak RSS",
            value=listed.peak_rss_mb,
            unit="MB",
            higher_is_better=False,
            note=f"{listed.seconds:.1f} s, {list_rate:,.0f} rows/s: the baseline above",
        )
    )
    return rows


def _rows(
    what: str,
    measured: Measured,
    count: int,
    *,
    at_target: bool,
    note: str,
    baseline: float,
    baseline_label: str,
) -> list[Row]:
    return [
        Row(
            figure=FIGURE,
            measure=f"{what}: wall time",
            value=measured.seconds,
            unit="s",
            higher_is_better=False,
            target=TARGET_WALL_S if at_target else None,
            note=f"{note}; {measured.cpu_seconds:.0f} CPU s in the command's processes,"
            " Postgres's not counted",
        ),
        Row(
            figure=FIGURE,
            measure=f"{what}: rows/s",
            value=count / measured.seconds,
            unit="rows/s",
            baseline=baseline,
            baseline_label=baseline_label,
        ),
        Row(
            figure=FIGURE,
            measure=f"{what}: peak memory",
            value=measured.peak_total_mb,
            unit="MB",
            higher_is_better=False,
            target=TARGET_RSS_MB if at_target else None,
            note=f"all processes (PSS, sampled); the command's own peak RSS"
            f" {measured.peak_rss_mb:.0f} MB",
        ),
    ]


def _cli(env: dict[str, str], *args: str) -> Measured:
    """Run `size-recorder ARGS --json` in a child: its wall time, peak memory and summary."""
    with tempfile.TemporaryDirectory(prefix="size-recorder-bench-") as work:
        state = os.path.join(work, "state.json")
        extra = ["--state", state] if "--inventory" in args else []
        peak = os.path.join(work, "peak")
        with (
            open(os.path.join(work, "out"), "w+b") as out,
            open(os.path.join(work, "err"), "w+b") as err,
        ):
            started = time.perf_counter()
            child = subprocess.Popen(
                [sys.executable, "-c", _CLI, *args, *extra, "--json"],
                stdout=out,
                stderr=err,
                env={**env, "BENCH_PEAK_FILE": peak},
                cwd=work,
            )
            total_kb = 0
            # wait4 counts the CPU time of the child and of the workers it reaped.
            while not (ended := os.wait4(child.pid, os.WNOHANG))[0]:
                total_kb = max(total_kb, _tree_pss_kb(child.pid))
                time.sleep(0.2)
            seconds = time.perf_counter() - started
            _, status, usage = ended
            child.returncode = code = os.waitstatus_to_exitcode(status)
            if code not in (0, 1):
                err.seek(0)
                message = err.read().decode(errors="replace")
                raise RuntimeError(f"size-recorder {' '.join(args)}: {message}")
            out.seek(0)
            summary = json.loads(out.read().splitlines()[-1])
        with open(peak, encoding="ascii") as found:
            peak_kb = int(found.read())
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(seconds, peak_kb / 1024, max(peak_kb, total_kb) / 1024, cpu, summary)


def _tree_pss_kb(pid: int) -> int:
    """The memory a process and its descendants use now: their proportional set sizes, so
    pages they share (the interpreter, libraries) count once."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{entry.name}/stat").read_text(encoding="ascii")
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, grew = {pid}, True
    while grew:
        found = {child for child, parent in parents.items() if parent in tree} - tree
        grew = bool(found)
        tree |= found
    total = 0
    for member in tree:
        with contextlib.suppress(OSError, StopIteration):
            with open(f"/proc/{member}/smaps_rollup", encoding="ascii") as rollup:
                line = next(line for line in rollup if line.startswith("Pss:"))
            total += int(line.split()[1])
    return total


@contextlib.contextmanager
def _sized_table(url: str, sizes: InventorySizes) -> Iterator[Documents]:
    """A Django-shaped table holding every object's size, then the `gone` rows; dropped after.

    Sizes are set by the INSERT itself: setting them afterwards would rewrite every row.
    """
    import psycopg

    table = Documents(url=url, schema=f"bench_{uuid.uuid4().hex[:10]}", rows=sizes.objects)
    with psycopg.connect(url, autocommit=True) as conn:
        create_unindexed_table(conn, table)
        conn.execute(
            f"INSERT INTO {table.qualified} (file, size_bytes)"
            " SELECT 'uploads/doc-' || lpad(i::text, %(digits)s, '0') || '.pdf',"
            " 1 + i %% 997 + (i %% %(every)s = 7)::int"
            " FROM generate_series(0, %(last)s) AS i",
            {"digits": NAME_DIGITS, "every": sizes.drift_every, "last": sizes.objects - 1},
        )
        conn.execute(
            f"INSERT INTO {table.qualified} (file, size_bytes)"
            " SELECT 'uploads/gone-' || i || '.pdf', 1 FROM generate_series(1, %s) AS i",
            (sizes.gone,),
        )
        conn.execute(f"CREATE INDEX ON {table.qualified} (file)")
        conn.execute(f"VACUUM ANALYZE {table.qualified}")
    try:
        yield table
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {table.schema} CASCADE")


def _size(index: int) -> int:
    return 1 + index % 997


def _backend() -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["global"]


def _source_bucket(endpoint: str, sizes: InventorySizes) -> str:
    """The app's bucket, holding only the objects whose rows drifted (the HEADs find them)."""
    import boto3

    bucket = f"bench-inventory-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    backend = _backend()
    for index in range(7, sizes.objects, sizes.drift_every):
        backend.put_object(bucket, KEY_PREFIX + object_name(index), b"x" * _size(index))
    return bucket


def _report(
    endpoint: str,
    source: str,
    sizes: InventorySizes,
    file_format: str,
    *,
    objects: int | None = None,
) -> str:
    """An inventory report of the first `objects` objects, written into moto's backend; its
    manifest's s3:// address. Dated two seconds ahead: S3 dates objects to the second, and the
    drifted objects were put just now."""
    import boto3

    count = sizes.objects if objects is None else objects
    files = sizes.files if file_format == "CSV" else 1
    bucket = f"bench-reports-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    backend = _backend()
    taken = datetime.now(UTC) + timedelta(seconds=2)
    per_file = math.ceil(count / files)
    entries = []
    for part in range(files):
        indexes = range(part * per_file, min(count, (part + 1) * per_file))
        body = _csv_part(source, indexes) if file_format == "CSV" else _parquet(source, indexes)
        suffix = "csv.gz" if file_format == "CSV" else "parquet"
        key = f"reports/{source}/daily/data/part-{part:03}.{suffix}"
        backend.put_object(bucket, key, body)
        entries.append({"key": key, "size": len(body), "MD5checksum": "0" * 32})
    manifest = {
        "sourceBucket": source,
        "destinationBucket": f"arn:aws:s3:::{bucket}",
        "version": "2016-11-30",
        "creationTimestamp": str(int(taken.timestamp() * 1000)),
        "fileFormat": file_format,
        "fileSchema": "Bucket, Key, Size"
        if file_format == "CSV"
        else "message s3.inventory { required binary bucket (STRING);"
        " required binary key (STRING); optional int64 size; }",
        "files": entries,
    }
    key = f"reports/{source}/daily/{taken:%Y-%m-%dT%H-%MZ}/manifest.json"
    backend.put_object(bucket, key, json.dumps(manifest).encode())
    return f"s3://{bucket}/{key}"


def _csv_part(source: str, indexes: range) -> bytes:
    """Quoted fields, keys form-encoded as S3 encodes them; fast gzip (how S3 compresses is
    not what is measured)."""
    stem = quote_plus(KEY_PREFIX + "uploads/doc-")  # the digits and ".pdf" need no encoding
    text = "".join(
        f'"{source}","{stem}{index:0{NAME_DIGITS}}.pdf","{_size(index)}"\n' for index in indexes
    )
    return gzip.compress(text.encode(), compresslevel=1)


def _parquet(source: str, indexes: range) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "bucket": [source] * len(indexes),
            "key": [KEY_PREFIX + object_name(index) for index in indexes],
            "size": [_size(index) for index in indexes],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=100_000)
    return sink.getvalue()


def _parquet_scope(sizes: InventorySizes) -> tuple[int, str]:
    """A tenth of the objects (a power of ten), and the prefix whose rows are exactly those:
    names 0 to 10**k - 1 share their leading zeros."""
    digits = max(1, int(math.log10(sizes.objects)) - 1)
    return 10**digits, KEY_PREFIX + "uploads/doc-" + "0" * (NAME_DIGITS - digits)


def _set_null(table: Documents, sizes: InventorySizes) -> int:
    """Set one row in `null_every` NULL (objects' rows only); how many."""
    import psycopg

    with psycopg.connect(table.url, autocommit=True) as conn:
        done = conn.execute(
            f"UPDATE {table.qualified} SET size_bytes = NULL"
            " WHERE id %% %s = 0 AND file LIKE 'uploads/doc-%%'",
            (sizes.null_every,),
        ).rowcount
        conn.execute(f"VACUUM ANALYZE {table.qualified}")
    return done


def _list_baseline(bench: Bench, sizes: InventorySizes) -> Measured:
    """`backfill --method list` on `listed` objects, through the same child-process path."""
    with bench.documents(rows=sizes.listed) as documents:
        bucket = seed_listing(bench, sizes.listed)
        env = {**os.environ, **documents.recorder_env(), "AWS_ENDPOINT_URL": bench.moto()}
        return _cli(env, "backfill", "--bucket", bucket, "--prefix", KEY_PREFIX)


def main(argv: list[str] | None = None) -> int:
    """Run this figure alone and print its rows (`make bench` runs it with `--only inventory`)."""
    import argparse

    from benchmarks.context import FULL as FULL_BENCH
    from benchmarks.environment import isolate_aws, postgres
    from benchmarks.report import print_table

    parser = argparse.ArgumentParser(prog="python -m benchmarks.inventory", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: proves it runs")
    args = parser.parse_args(argv)
    isolate_aws()
    with contextlib.ExitStack() as stack:
        bench = Bench(
            sizes=QUICK if args.quick else FULL_BENCH,
            database_url=stack.enter_context(postgres()),
            stack=stack,
        )
        started = time.perf_counter()
        rows = run(bench)
    print_table(rows, title=f"size-recorder inventory ({time.perf_counter() - started:.0f} s)")
    print(json.dumps([row.as_dict() for row in rows], indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
