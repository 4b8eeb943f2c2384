"""Where the connection string comes from: `DATABASE_URL`, a Secrets Manager secret, or an IAM
database authentication token.

The secret and IAM paths import boto3 (through Powertools' parameters utility for the secret)
only when they are used, so a Lambda configured with `DATABASE_URL` never pays for importing it.

Secrets and IAM auth share the address variables (`SIZE_RECORDER_DB_HOST`, `_PORT`, `_NAME`):
IAM auth needs them, and with a secret they win over what the secret holds and fill what it
lacks. An RDS-managed secret (`rds!db-…`, `rds!cluster-…`) holds only `username` and `password`,
and behind RDS Proxy the host must be the proxy's endpoint rather than the instance's that a
secret names, so the explicit setting is the one to trust.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from size_recorder import constants as c
from size_recorder.core.config import ConfigError, Settings

# How long a fetched secret is trusted before it is fetched again (rotation).
SECRET_MAX_AGE_S = 300
# RDS accepts an IAM auth token for 15 minutes after signing, and only at login (a session
# outlives it). Signing anew after 10 leaves 5 for clock skew and a slow connect.
IAM_TOKEN_REUSE_S = 600

_REQUIRED_SECRET_FIELDS = ("username", "password")

# (host, port, user) -> an IAM auth token for that login.
TokenSigner = Callable[[str, int, str], str]


def conninfo_provider(settings: Settings) -> Callable[[], str]:
    """A callable the store calls each time it opens a connection."""
    if settings.database_url:
        url = settings.database_url
        return lambda: url
    if settings.db_secret_arn:
        arn = settings.db_secret_arn
        return lambda: conninfo_from_secret(arn, settings)
    if settings.db_iam_user:
        return IamAuthConninfo(settings)
    raise ConfigError(
        f"no database configured: set {c.ENV_DATABASE_URL}, {c.ENV_DB_SECRET_ARN}"
        f" or {c.ENV_DB_IAM_USER}"
    )


def conninfo_from_secret(arn: str, settings: Settings) -> str:
    """A libpq conninfo from the secret `arn`, cached for SECRET_MAX_AGE_S, and the address
    variables in `settings`.

    Host, port and database name: the variable when set, else the secret's field, else (port and
    database only) 5432 and `postgres`.
    """
    from aws_lambda_powertools.utilities.parameters import get_secret
    from psycopg.conninfo import make_conninfo

    variable = c.ENV_DB_SECRET_ARN
    secret: Any = get_secret(arn, transform="json", max_age=SECRET_MAX_AGE_S)
    if not isinstance(secret, dict):
        raise ConfigError(f"{variable}: secret {arn} is not a JSON object")
    missing = [name for name in _REQUIRED_SECRET_FIELDS if not secret.get(name)]
    if missing:
        raise ConfigError(
            f"{variable}: secret {arn} lacks {', '.join(missing)}"
            " (expected the RDS shape: username and password, and optionally host, port, dbname)"
        )
    host = settings.db_host or secret.get("host")
    if not host:
        raise ConfigError(
            f"{variable}: secret {arn} names no host (an RDS-managed secret holds only the"
            f" username and password): set {c.ENV_DB_HOST} to the database's or proxy's endpoint"
        )
    return make_conninfo(
        host=str(host),
        port=str(settings.db_port or secret.get("port") or c.DEFAULT_DB_PORT),
        user=str(secret["username"]),
        password=str(secret["password"]),
        dbname=str(settings.db_name or secret.get("dbname") or c.DEFAULT_DB_NAME),
        **_tls(settings, required=False),
    )


class IamAuthConninfo:
    """The conninfo for IAM database authentication: the password is a token signed for the
    user, host and port, reused until IAM_TOKEN_REUSE_S after signing.

    Signing is local (SigV4 with the function's credentials), so a new token costs no network
    call; boto3 is imported and its client built on the first connect. The token is a
    credential: no attribute of this object is in its repr, and connection.py keeps the
    password field out of every error.
    """

    __slots__ = ("_clock", "_conninfo", "_host", "_port", "_sign", "_signed_at", "_token", "_user")

    def __init__(
        self,
        settings: Settings,
        *,
        sign: TokenSigner | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from psycopg.conninfo import make_conninfo

        if not (settings.db_iam_user and settings.db_host and settings.db_name):
            raise ConfigError(
                f"IAM database authentication needs {c.ENV_DB_IAM_USER}, {c.ENV_DB_HOST}"
                f" and {c.ENV_DB_NAME}"
            )
        self._user = settings.db_iam_user
        self._host = settings.db_host
        self._port = settings.db_port or c.DEFAULT_DB_PORT
        # Everything but the password, fixed for the life of the process.
        self._conninfo = make_conninfo(
            host=self._host,
            port=str(self._port),
            user=self._user,
            dbname=settings.db_name,
            # RDS refuses an IAM login without TLS: never let libpq try plaintext.
            **_tls(settings, required=True),
        )
        self._sign = sign if sign is not None else _Boto3Signer(settings.aws_region)
        # Wall-clock time, as RDS judges the token's age: a monotonic clock may not advance
        # while Lambda keeps the environment frozen between invocations.
        self._clock = clock
        self._token: str | None = None
        self._signed_at = 0.0

    def __call__(self) -> str:
        from psycopg.conninfo import make_conninfo

        now = self._clock()
        # A clock that went back also gets a new token: its age is then unknown.
        if self._token is None or not 0 <= now - self._signed_at < IAM_TOKEN_REUSE_S:
            self._token = self._sign(self._host, self._port, self._user)
            self._signed_at = now
        return make_conninfo(self._conninfo, password=self._token)


class _QuietWhileSigning(logging.Filter):
    """Drops botocore.auth's records in a thread while it signs a token: at DEBUG, botocore logs
    a presigned URL's canonical request (every query parameter, the session token included)
    and then its signature, which together are the token. Other requests' logs are untouched."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self._local, "signing", False)

    @contextmanager
    def signing(self) -> Iterator[None]:
        self._local.signing = True
        try:
            yield
        finally:
            self._local.signing = False


_QUIET_WHILE_SIGNING = _QuietWhileSigning()


class _Boto3Signer:
    """boto3's `generate_db_auth_token`, with the RDS client built once, on first use."""

    __slots__ = ("_client", "_region")

    def __init__(self, region: str | None) -> None:
        self._region = region
        self._client: Any = None

    def __call__(self, host: str, port: int, user: str) -> str:
        if self._client is None:
            import boto3
            from botocore.exceptions import NoRegionError

            try:
                self._client = boto3.client("rds", region_name=self._region)
            except NoRegionError:
                raise ConfigError(
                    f"{c.ENV_DB_IAM_USER}: IAM auth tokens are signed for the database's region:"
                    f" set {c.ENV_AWS_REGION}"
                ) from None
            # A logger's filters see only its own records, and the filter is added once.
            logging.getLogger("botocore.auth").addFilter(_QUIET_WHILE_SIGNING)
        with _QUIET_WHILE_SIGNING.signing():
            token: str = self._client.generate_db_auth_token(
                DBHostname=host, Port=port, DBUsername=user, Region=self._region
            )
        return token


def _tls(settings: Settings, *, required: bool) -> dict[str, str]:
    """libpq's TLS options: verify-full against a named CA bundle; else `require` if TLS is
    `required`, else nothing (libpq's defaults and its PGSSL* variables apply)."""
    if settings.db_ssl_root_cert:
        return {"sslmode": "verify-full", "sslrootcert": settings.db_ssl_root_cert}
    return {"sslmode": "require"} if required else {}
