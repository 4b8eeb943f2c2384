"""Behaviour the model expects that the code does not have yet, one entry per defect.

The model encodes the intended behaviour (issue 13). While a defect is listed here, the model
steps around exactly that defect, as its entry says (a rule switched off, or one check
relaxed), so every other rule and invariant keeps testing; the defect's own regression test in
`test_regressions.py` is a strict xfail. When a fix lands, that xfail passes, and a strict
XPASS fails the run: remove the mark there and the entry here, and the model then tests the
fixed behaviour in every sequence it generates.
"""

from __future__ import annotations

# F1 (a row named after its key's newest event was consumed took an older one) was fixed by the
# sequencer ledger; its regression tests are in test_regressions.py.
PENDING: dict[str, str] = {}
