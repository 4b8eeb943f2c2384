"""Where the database connection string comes from: `DATABASE_URL`, or a Secrets Manager secret.

The secret path imports boto3 (through Powertools' parameters utility) only when it is used, so
a Lambda configured with `DATABASE_URL` never pays for importing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from size_recorder.core.config import ConfigError, Settings

# How long a fetched secret is trusted before it is fetched again (rotation).
SECRET_MAX_AGE_S = 300

_REQUIRED_SECRET_FIELDS = ("host", "username", "password")


def conninfo_provider(settings: Settings) -> Callable[[], str]:
    """A callable the store calls each time it opens a connection."""
    if settings.database_url:
        url = settings.database_url
        return lambda: url
    arn = settings.db_secret_arn
    assert arn is not None  # Settings.from_env guarantees one of the two
    return lambda: conninfo_from_secret(arn)


def conninfo_from_secret(arn: str) -> str:
    """A libpq conninfo built from an RDS-shaped secret, cached for SECRET_MAX_AGE_S."""
    from aws_lambda_powertools.utilities.parameters import get_secret
    from psycopg.conninfo import make_conninfo

    secret: Any = get_secret(arn, transform="json", max_age=SECRET_MAX_AGE_S)
    if not isinstance(secret, dict):
        raise ConfigError(f"SIZE_RECORDER_DB_SECRET_ARN: secret {arn} is not a JSON object")
    missing = [name for name in _REQUIRED_SECRET_FIELDS if not secret.get(name)]
    if missing:
        raise ConfigError(
            f"SIZE_RECORDER_DB_SECRET_ARN: secret {arn} lacks {', '.join(missing)}"
            " (expected the RDS shape: host, port, username, password, dbname)"
        )
    return make_conninfo(
        host=str(secret["host"]),
        port=str(secret.get("port") or 5432),
        user=str(secret["username"]),
        password=str(secret["password"]),
        dbname=str(secret.get("dbname") or "postgres"),
    )
