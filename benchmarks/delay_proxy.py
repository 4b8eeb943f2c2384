"""Postgres "over a network" on one machine: a TCP proxy that delays every byte each way.

pgserver listens on a Unix socket only, where a round trip takes tens of microseconds; from
Lambda to RDS it takes about a millisecond. `delayed_postgres(url)` starts this proxy on
127.0.0.1, forwarding to the database of `url` (its Unix socket, or its TCP host and port), and
yields a connection string through it. Every chunk read from either side is written to the
other `delay` later; a chunk's delay overlaps the next ones', so a pipelined batch pays the
latency once, as on a real link, and bandwidth is not limited.

The proxy runs in a child process of its own, so the benchmark's Python work (holding the GIL)
never holds a forwarded packet back. It is bounded: at most `MAX_CONNECTIONS` at once (more are
refused), and it exits when its parent closes its stdin (or dies) or after `MAX_LIFETIME_S`,
whichever comes first. Timing uses `select`'s microsecond timeout, not the event loop's
millisecond one: a 0.5 ms wait in asyncio rounds up to a millisecond or more.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_CONNECTIONS = 16
MAX_LIFETIME_S = 3 * 3600
# How much earlier than due a wait may end, to make up for waking late (see `_forward`).
MAX_LEAD_S = 0.000_25
_CHUNK = 256 * 1024


@contextlib.contextmanager
def delayed_postgres(url: str, *, one_way_s: float) -> Iterator[str]:
    """A connection string to `url`'s database through a proxy adding `one_way_s` each way."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    host = str(params.get("host") or "")
    port = str(params.get("port") or "5432")
    if not host or "," in host:
        raise ValueError("the delay proxy needs a database with one host (a socket dir or a name)")
    upstream = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else f"{host}:{port}"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.delay_proxy",
            upstream,
            "--one-way-ms",
            str(one_way_s * 1000),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,  # where `benchmarks` imports from
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the delay proxy did not start (it printed {line!r})")
        params.pop("hostaddr", None)
        yield make_conninfo("", **{**params, "host": "127.0.0.1", "port": line.strip()})
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the proxy's cue to exit
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@dataclass(frozen=True, slots=True)
class Link:
    """A connection string through the proxy, and the round trip measured through it."""

    url: str
    rtt_s: float  # median `SELECT 1` through the proxy, less the same on the direct path
    direct_s: float  # median `SELECT 1` on the direct path (the local socket)


@contextlib.contextmanager
def link_with_rtt(url: str, *, rtt_s: float, samples: int) -> Iterator[Link]:
    """`url`'s database behind a proxy holding each direction back by half of `rtt_s`.

    The round trip achieved is that plus the proxy's own hop (two more socket hand-offs each
    way, ~0.1-0.2 ms on a quiet machine, more on a busy one), measured with `SELECT 1` and
    returned. The delay is not lowered by the hop's cost: measured at a busy moment, that cost
    swallowed the whole delay.
    """
    direct = round_trip_s(url, samples=samples)
    with delayed_postgres(url, one_way_s=rtt_s / 2) as delayed:
        achieved = round_trip_s(delayed, samples=samples) - direct
        yield Link(url=delayed, rtt_s=achieved, direct_s=direct)


def round_trip_s(url: str, *, samples: int) -> float:
    """Median seconds of one `SELECT 1` on one open connection: the round trip `url` costs."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT 1")  # the first one pays for the statement's setup
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def _connect_upstream(upstream: str) -> socket.socket:
    if upstream.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(upstream)
        return sock
    host, _, port = upstream.rpartition(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _forward(src: socket.socket, dst: socket.socket, delay_s: float) -> None:
    """Copy src to dst, each chunk `delay_s` after it arrived; src's end becomes dst's end."""
    pending: collections.deque[tuple[float, bytes]] = collections.deque()
    reading = True
    # A timed wait wakes late (timer slack, scheduling: ~0.1 ms on a busy machine), so each
    # wait ends early by the lateness seen so far, at most MAX_LEAD_S: the delay is then right
    # on average, where it overshot a 0.5 ms delay by ~25%.
    lead = 0.0
    try:
        while reading or pending:
            wait = None
            if pending:
                wake_at = pending[0][0] - lead
                wait = wake_at - time.monotonic()
                if wait <= 0:
                    data = pending.popleft()[1]
                    if data:
                        dst.sendall(data)
                    else:
                        dst.shutdown(socket.SHUT_WR)
                    continue
            ready: list[socket.socket] = []
            if reading:
                ready, _, _ = select.select([src], [], [], wait)
            else:
                time.sleep(wait or 0)
            if ready:
                data = src.recv(_CHUNK)
                pending.append((time.monotonic() + delay_s, data))
                reading = bool(data)
            elif wait is not None:  # the wait ran out: learn how late it woke
                lead = 0.9 * lead + 0.1 * min(time.monotonic() - wake_at, MAX_LEAD_S)
    except OSError:  # either side went away: the other learns it when the sockets close
        pass


def _relay(
    client: socket.socket, upstream: str, delay_s: float, slots: threading.Semaphore
) -> None:
    try:
        with client, _connect_upstream(upstream) as server:
            # One direction in a thread of its own: a single thread blocked writing one way
            # could deadlock with a peer that writes before it reads (a large result).
            back = threading.Thread(target=_forward, args=(server, client, delay_s), daemon=True)
            back.start()
            _forward(client, server, delay_s)
            back.join()
    except OSError:
        pass
    finally:
        slots.release()


def _exit_when_parent_leaves() -> None:
    sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or exited
    os._exit(0)


def serve(upstream: str, *, delay_s: float) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(1.0)
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=_exit_when_parent_leaves, daemon=True).start()
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
    deadline = time.monotonic() + MAX_LIFETIME_S
    while time.monotonic() < deadline:
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        if not slots.acquire(blocking=False):
            client.close()
            continue
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(
            target=_relay, args=(client, upstream, delay_s, slots), daemon=True
        ).start()
    os._exit(0)  # the lifetime is over: relays still running end with the process


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.delay_proxy")
    parser.add_argument("upstream", help="a Unix socket path, or host:port")
    parser.add_argument("--one-way-ms", type=float, required=True)
    args = parser.parse_args(argv)
    serve(args.upstream, delay_s=args.one_way_ms / 1000)


if __name__ == "__main__":
    main()
