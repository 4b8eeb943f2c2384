"""The delay proxy behind figure 2: it forwards Postgres's protocol, holds each direction back by
its delay, and goes away with its parent. Lower bounds only: a delay can only be longer than set
on a busy machine, never shorter."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import psycopg
from benchmarks.delay_proxy import MAX_LEAD_S, delayed_postgres, round_trip_s

ONE_WAY_S = 0.005


def test_a_round_trip_through_the_proxy_waits_for_both_directions(database_url: str) -> None:
    with delayed_postgres(database_url, one_way_s=ONE_WAY_S) as url:
        assert round_trip_s(url, samples=3) >= 2 * (ONE_WAY_S - MAX_LEAD_S)


def test_a_result_larger_than_the_socket_buffers_comes_through_whole(database_url: str) -> None:
    with (
        delayed_postgres(database_url, one_way_s=0.0005) as url,
        psycopg.connect(url) as conn,
    ):
        row = conn.execute("SELECT repeat('x', 20000000)").fetchone()
    assert row is not None
    assert len(row[0]) == 20_000_000


def test_the_proxy_stops_listening_when_its_parent_exits_without_closing_it(
    database_url: str,
) -> None:
    parent = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from benchmarks.delay_proxy import delayed_postgres;"
            " from psycopg.conninfo import conninfo_to_dict;"
            " url = delayed_postgres(sys.argv[1], one_way_s=0.001).__enter__();"
            " print(conninfo_to_dict(url)['port'], flush=True); os._exit(0)",
            database_url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    port = int(parent.stdout)
    deadline = time.monotonic() + 10
    while _listening(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _listening(port)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
