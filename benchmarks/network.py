"""Figure 2: figure 1's comparison with the database behind 1 ms of round trip.

From Lambda to RDS a round trip takes about 0.3-1 ms, where the local socket takes tens of
microseconds; the naive handler pays it for every record (BEGIN, UPDATE, COMMIT), the recorder
for every batch. Both handlers reach Postgres through benchmarks/delay_proxy.py on 127.0.0.1,
in the same run, on the same table, called in turn. The proxy holds each direction back by
0.5 ms; the round trip achieved (that, plus the proxy's own hop) is measured with `SELECT 1`
before and after the figure and shown as its first row.
"""

from __future__ import annotations

import dataclasses

from benchmarks.context import Bench
from benchmarks.delay_proxy import link_with_rtt, round_trip_s
from benchmarks.report import Row
from benchmarks.throughput import compare

FIGURE = "2 throughput, 1 ms RTT"
RTT_S = 0.001


def run(bench: Bench) -> list[Row]:
    samples = bench.sizes.rtt_samples
    with (
        bench.documents() as documents,
        link_with_rtt(documents.url, rtt_s=RTT_S, samples=samples) as link,
    ):
        through_proxy = dataclasses.replace(documents, url=link.url)
        rows = compare(bench, through_proxy, bench.sizes.rtt_batches, figure=FIGURE)
        # Measured again after: on a shared machine the proxy's wake-ups drift with the load.
        after_s = round_trip_s(link.url, samples=samples) - link.direct_s
    rtt = Row(
        figure=FIGURE,
        measure="round trip added, SELECT 1",
        value=link.rtt_s * 1000,
        unit="ms",
        higher_is_better=False,
        note=(
            f"median of {samples}, less the local socket's {link.direct_s * 1000:.2f} ms;"
            f" {after_s * 1000:.2f} ms after the figure; the proxy waits"
            f" {RTT_S / 2 * 1000:.2f} ms each way, its own hop adds the rest"
        ),
    )
    return [rtt, *rows.values()]
