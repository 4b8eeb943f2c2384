"""Postgres: connecting, the recorder's batched write, and the operator tools' queries."""
