"""Fixtures several test directories share, as pytest plugins: the root conftest.py registers
them with `pytest_plugins` (pytest allows that only there). Helpers are in `tests/support/`."""
