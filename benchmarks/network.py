"""Figure 2: figure 1's comparison with the database behind 1 ms of round trip.

From Lambda to RDS a round trip takes about 0.3-1 ms, where the local socket takes tens of
microseconds; the naive handler pays it for every record (BEGIN, UPDATE, COMMIT), the recorder
for every batch. Both handlers reach Postgres through benchmarks/delay_proxy.py on 127.0.0.1,
in the same run, on the same table, called in turn. The proxy's delay is set so that a
`SELECT 1` through it takes about 1 ms longer than on the local socket; the round trip achieved
is measured the same way and shown as the figure's first row.
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
            f" {after_s * 1000:.2f} ms after the figure; proxy: {link.one_way_s * 1000:.2f} ms"
            f" each way + {link.proxy_cost_s * 1000:.2f} ms its own hop"
        ),
    )
    return [rtt, *rows.values()]
