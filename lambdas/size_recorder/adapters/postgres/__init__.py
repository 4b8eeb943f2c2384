"""Postgres, for the recorder and every tool: `connection` opens connections (timeouts,
keepalives, no prepared statements) and turns psycopg errors into password-free `PostgresError`
text; `schema` checks the configured tables; `store` is the recorder's batched write; `rows` is
the operator tools' queries."""
