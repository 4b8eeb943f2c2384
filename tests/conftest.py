"""The suite's shared fixtures, registered as plugins (pytest reads `pytest_plugins` only here):

- `tests.plugins.aws`: an AWS environment that can only ever reach moto (autouse), and moto's
  server (`moto_endpoint`);
- `tests.plugins.postgres`: a real Postgres (`database_url`), a fresh Django-shaped table
  (`documents`), recorders built from an environment (`make_recorder`).

Helpers (event builders, the table's class, queue builders) are plain modules in
`tests/support/`; test modules import those, never a conftest.py.
"""

pytest_plugins = ["tests.plugins.aws", "tests.plugins.postgres"]
