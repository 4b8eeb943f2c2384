"""Behaviour the model expects that the code does not have yet, one entry per defect.

The model encodes the intended behaviour (issue 13). While a defect is listed here, the model
steps around exactly that defect, as its entry says (a rule switched off, or one check
relaxed), so every other rule and invariant keeps testing; the defect's own regression test in
`test_regressions.py` is a strict xfail. When a fix lands, that xfail passes, and a strict
XPASS fails the run: remove the mark there and the entry here, and the model then tests the
fixed behaviour in every sequence it generates.
"""

from __future__ import annotations

PENDING: dict[str, str] = {
    "F1": (
        "found by the model: a row that takes its name after its key's newest event was consumed"
        " (inserted or renamed later, or the newest event a removal acknowledged while no row"
        " held the name) takes an older event still queued or redelivered, and keeps that old"
        " size for good. Relaxed: after a drain, such a row may hold a size other than its"
        " object's current one (still one its key held: invariant 1 stays)."
    ),
}
