"""Settings from the environment, validated once at start-up, and routing of keys to tables.

Entry points call `Settings.from_env()` once and pass the result down; nothing below them reads
`os.environ`. Every error names the variable to fix, because the person reading it is an
operator looking at a failed deploy, not the author of this code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from size_recorder import constants as c

# A plain SQL identifier: what Django generates for tables and columns. Anything else (quotes,
# spaces, dots inside a name) is refused rather than quoted, so config cannot smuggle SQL.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class ConfigError(ValueError):
    """Configuration that cannot work; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where objects under one prefix are recorded: a table and its columns.

    `prefix` decides which keys are this target's (the longest one matching wins); `location`
    is the part of those keys the row's name leaves out: Django's storage location, which
    several file fields can share while each keeps its own `upload_to` directory under it
    (prefix `media/uploads/`, location `media/`: key `media/uploads/a.pdf`, name
    `uploads/a.pdf`). It must be a leading part of `prefix`; None means the prefix itself.
    """

    table: tuple[str, ...]  # ("documents_document",) or ("public", "documents_document")
    key_column: str = c.DEFAULT_KEY_COLUMN
    size_column: str = c.DEFAULT_SIZE_COLUMN
    sequencer_column: str | None = None
    prefix: str = ""
    bucket: str | None = None
    # The variable (or TARGETS entry) this came from, so later errors can name it.
    origin: str = c.ENV_TABLE
    location: str | None = None

    def __post_init__(self) -> None:
        if self.location is not None and not self.prefix.startswith(self.location):
            raise ConfigError(
                f"{self.origin}.location={self.location!r} is not a leading part of its"
                f" prefix {self.prefix!r}: the location is what every key routed here starts"
                " with and the row's name leaves out"
            )

    @property
    def table_name(self) -> str:
        """ "schema.table", as every record's result names it."""
        return ".".join(self.table)

    def name_of(self, key: str) -> str:
        """The name a row holds for the object at `key`, a key this target's prefix matches."""
        return key[len(self._location) :]

    def key_of(self, name: str) -> str:
        """The S3 key of the object a row's name stands for: `name_of` undone."""
        return self._location + name

    @property
    def _location(self) -> str:
        return self.prefix if self.location is None else self.location

    def variable(self, attribute: str) -> str:
        """The variable an operator edits to change `attribute` of this target."""
        if self.origin == c.ENV_TABLE:
            return _SINGLE_TARGET_VARIABLES[attribute]
        return f"{self.origin}.{attribute}"

    def describe(self) -> str:
        where = f"s3://{self.bucket or '*'}/{self.prefix}"
        if self._location != self.prefix:
            where += f" (names after {self._location!r})"
        return f"{where} → {self.table_name}.{self.size_column}"


_SINGLE_TARGET_VARIABLES = {
    "table": c.ENV_TABLE,
    "key_column": c.ENV_KEY_COLUMN,
    "size_column": c.ENV_SIZE_COLUMN,
    "sequencer_column": c.ENV_SEQUENCER_COLUMN,
}


@dataclass(frozen=True, slots=True)
class Route:
    """The target an object belongs to and the name its row holds (`Target.name_of`)."""

    target: Target
    name: str

    @property
    def names_a_file(self) -> bool:
        """False for a folder marker (the S3 console's "Create folder", sync tools): a
        zero-byte object whose key ends in "/", whose name is empty or ends in "/". No file
        name ends that way, and the empty name is what every blank FileField holds."""
        return bool(self.name) and not self.name.endswith("/")


@dataclass(frozen=True, slots=True)
class Settings:
    targets: tuple[Target, ...]
    # The URL may carry a password: keep it out of reprs, tracebacks and debug output.
    database_url: str | None = field(default=None, repr=False)
    db_secret_arn: str | None = None
    # IAM database authentication: the database user a token is signed for. Exactly one of
    # database_url, db_secret_arn and db_iam_user is set (`from_env` checks).
    db_iam_user: str | None = None
    # Where to connect when the credentials do not say (IAM auth, a secret holding only a
    # username and password); with a secret they also override what it holds, so a secret
    # naming the instance can be used through an RDS Proxy's endpoint.
    db_host: str | None = None
    db_port: int | None = None
    db_name: str | None = None
    # A CA bundle to verify the server against (sslmode=verify-full); secret and IAM auth only.
    db_ssl_root_cert: str | None = None
    # The region IAM auth tokens are signed for; None lets boto3 find one (a profile's).
    aws_region: str | None = None
    statement_timeout_ms: int = c.DEFAULT_STATEMENT_TIMEOUT_MS
    connect_timeout_s: int = c.DEFAULT_CONNECT_TIMEOUT_S
    unmatched_retry_base_s: int = c.DEFAULT_UNMATCHED_RETRY_BASE_S
    unmatched_retry_max_s: int = c.DEFAULT_UNMATCHED_RETRY_MAX_S
    # The newest sequencer seen per key ("table" or ("schema", "table")), for targets with a
    # sequencer column; None: a row compares events with its own sequencer alone.
    sequencer_ledger: tuple[str, ...] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read and validate every variable; raise `ConfigError` on the first bad one."""
        database = _database_from_env(env)
        targets = _targets_from_env(env)
        return cls(
            targets=targets,
            database_url=database.url,
            db_secret_arn=database.secret_arn,
            db_iam_user=database.iam_user,
            db_host=database.host,
            db_port=database.port,
            db_name=database.name,
            db_ssl_root_cert=database.ssl_root_cert,
            aws_region=database.region,
            statement_timeout_ms=_positive_int(
                env, c.ENV_STATEMENT_TIMEOUT_MS, c.DEFAULT_STATEMENT_TIMEOUT_MS
            ),
            connect_timeout_s=_positive_int(
                env, c.ENV_CONNECT_TIMEOUT_S, c.DEFAULT_CONNECT_TIMEOUT_S
            ),
            unmatched_retry_base_s=_positive_int(
                env, c.ENV_UNMATCHED_RETRY_BASE_S, c.DEFAULT_UNMATCHED_RETRY_BASE_S
            ),
            unmatched_retry_max_s=_positive_int(
                env, c.ENV_UNMATCHED_RETRY_MAX_S, c.DEFAULT_UNMATCHED_RETRY_MAX_S
            ),
            sequencer_ledger=_ledger_from_env(env, targets),
        )

    def route(self, bucket: str, key: str) -> Route | None:
        """The target whose prefix is the longest match for this object, or None.

        A target naming the bucket wins over one that accepts any bucket at equal prefix length.
        """
        best: Target | None = None
        for target in self.targets:
            if target.bucket is not None and target.bucket != bucket:
                continue
            if not key.startswith(target.prefix):
                continue
            if best is None or _rank(target) > _rank(best):
                best = target
        if best is None:
            return None
        return Route(target=best, name=best.name_of(key))

    def unmatched_retry_delay(self, receive_count: int) -> int:
        """Seconds before an unmatched message is tried again: doubles per receive, capped."""
        exponent = min(max(receive_count, 1) - 1, 20)
        return min(self.unmatched_retry_base_s << exponent, self.unmatched_retry_max_s)


@dataclass(frozen=True, slots=True)
class _Database:
    """The database variables, checked together: they only make sense as a set."""

    url: str | None
    secret_arn: str | None
    iam_user: str | None
    host: str | None
    port: int | None
    name: str | None
    ssl_root_cert: str | None
    region: str | None


# The three ways to reach the database, each with what it is, for the error naming them.
_DATABASE_CHOICES = {
    c.ENV_DATABASE_URL: "a libpq URI or DSN",
    c.ENV_DB_SECRET_ARN: "a Secrets Manager secret in the RDS JSON shape",
    c.ENV_DB_IAM_USER: (
        f"IAM database authentication as this database user, with {c.ENV_DB_HOST}"
        f" and {c.ENV_DB_NAME}"
    ),
}
# Variables that describe a connection DATABASE_URL already describes in full.
_ENDPOINT_VARIABLES = (c.ENV_DB_HOST, c.ENV_DB_PORT, c.ENV_DB_NAME, c.ENV_DB_SSL_ROOT_CERT)


def _database_from_env(env: Mapping[str, str]) -> _Database:
    chosen = [name for name in _DATABASE_CHOICES if env.get(name)]
    if len(chosen) != 1:
        choices = "; ".join(f"{name} ({what})" for name, what in _DATABASE_CHOICES.items())
        together = f"{' and '.join(chosen)} are set together: " if chosen else ""
        raise ConfigError(f"{together}set exactly one of {choices}")
    url = env.get(c.ENV_DATABASE_URL) or None
    if url is not None:
        ignored = [name for name in _ENDPOINT_VARIABLES if env.get(name)]
        if ignored:
            raise ConfigError(
                f"{', '.join(ignored)} cannot be combined with {c.ENV_DATABASE_URL}:"
                " put host, port, dbname and sslrootcert in the URL instead"
            )
    iam_user = env.get(c.ENV_DB_IAM_USER) or None
    host = env.get(c.ENV_DB_HOST) or None
    name = env.get(c.ENV_DB_NAME) or None
    if iam_user is not None:
        missing = [
            var for var, value in ((c.ENV_DB_HOST, host), (c.ENV_DB_NAME, name)) if not value
        ]
        if missing:
            raise ConfigError(
                f"{c.ENV_DB_IAM_USER} (IAM database authentication) needs {' and '.join(missing)}:"
                " the token carries no address (the instance's, cluster's or proxy's endpoint)"
            )
    port = env.get(c.ENV_DB_PORT)
    ssl_root_cert = env.get(c.ENV_DB_SSL_ROOT_CERT) or None
    if iam_user is not None and ssl_root_cert is None:
        # IAM auth always sets sslmode itself; libpq's own CA variable still means verify-full.
        ssl_root_cert = env.get(c.ENV_PGSSLROOTCERT) or None
    return _Database(
        url=url,
        secret_arn=env.get(c.ENV_DB_SECRET_ARN) or None,
        iam_user=iam_user,
        host=host,
        port=None if not port else _port(port),
        name=name,
        ssl_root_cert=ssl_root_cert,
        region=env.get(c.ENV_AWS_REGION) or env.get(c.ENV_AWS_DEFAULT_REGION) or None,
    )


def _port(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{c.ENV_DB_PORT}={raw!r} is not a whole number") from None
    if not 0 < value < 65536:
        raise ConfigError(f"{c.ENV_DB_PORT}={raw!r} is not a TCP port (1 to 65535)")
    return value


def _rank(target: Target) -> tuple[int, int]:
    return (len(target.prefix), target.bucket is not None)


def _targets_from_env(env: Mapping[str, str]) -> tuple[Target, ...]:
    raw_targets = env.get(c.ENV_TARGETS)
    single_target_vars = [
        name
        for name in (
            c.ENV_TABLE,
            c.ENV_KEY_COLUMN,
            c.ENV_SIZE_COLUMN,
            c.ENV_KEY_PREFIX,
            c.ENV_SEQUENCER_COLUMN,
        )
        if env.get(name)
    ]
    if raw_targets:
        if single_target_vars:
            raise ConfigError(
                f"{c.ENV_TARGETS} is set together with {', '.join(single_target_vars)}: "
                f"use one or the other"
            )
        return _parse_targets_json(raw_targets)
    table = env.get(c.ENV_TABLE)
    if not table:
        raise ConfigError(f"set {c.ENV_TABLE} (the table to record sizes in) or {c.ENV_TARGETS}")
    return (
        Target(
            table=parse_table(table, variable=c.ENV_TABLE),
            key_column=identifier(
                env.get(c.ENV_KEY_COLUMN) or c.DEFAULT_KEY_COLUMN, variable=c.ENV_KEY_COLUMN
            ),
            size_column=identifier(
                env.get(c.ENV_SIZE_COLUMN) or c.DEFAULT_SIZE_COLUMN, variable=c.ENV_SIZE_COLUMN
            ),
            sequencer_column=_optional_identifier(
                env.get(c.ENV_SEQUENCER_COLUMN), variable=c.ENV_SEQUENCER_COLUMN
            ),
            prefix=env.get(c.ENV_KEY_PREFIX, ""),
        ),
    )


_TARGET_FIELDS = {
    "bucket",
    "prefix",
    "location",
    "table",
    "key_column",
    "size_column",
    "sequencer_column",
}


def _parse_targets_json(raw: str) -> tuple[Target, ...]:
    variable = c.ENV_TARGETS
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{variable} is not valid JSON: {exc}") from None
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{variable} must be a non-empty JSON list of target objects")
    targets = []
    for index, item in enumerate(items):
        where = f"{variable}[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} is not a JSON object")
        unknown = sorted(set(item) - _TARGET_FIELDS)
        if unknown:
            raise ConfigError(f"{where} has unknown field(s) {', '.join(unknown)}")
        if "table" not in item:
            raise ConfigError(f"{where} has no 'table'")
        targets.append(
            Target(
                table=parse_table(_field_str(item, "table", where), variable=f"{where}.table"),
                key_column=identifier(
                    _field_str(item, "key_column", where, c.DEFAULT_KEY_COLUMN),
                    variable=f"{where}.key_column",
                ),
                size_column=identifier(
                    _field_str(item, "size_column", where, c.DEFAULT_SIZE_COLUMN),
                    variable=f"{where}.size_column",
                ),
                sequencer_column=_optional_identifier(
                    _field_str(item, "sequencer_column", where, ""),
                    variable=f"{where}.sequencer_column",
                ),
                prefix=_field_str(item, "prefix", where, ""),
                bucket=_field_str(item, "bucket", where, "") or None,
                origin=where,
                # Absent (or null): the prefix, as before there was a location.
                location=(
                    None if item.get("location") is None else _field_str(item, "location", where)
                ),
            )
        )
    seen: dict[tuple[str | None, str], int] = {}
    for index, target in enumerate(targets):
        route_key = (target.bucket, target.prefix)
        if route_key in seen:
            raise ConfigError(
                f"{variable}[{index}] repeats bucket {target.bucket!r} and prefix "
                f"{target.prefix!r} of {variable}[{seen[route_key]}]"
            )
        seen[route_key] = index
    return tuple(targets)


def _ledger_from_env(env: Mapping[str, str], targets: tuple[Target, ...]) -> tuple[str, ...] | None:
    raw = env.get(c.ENV_SEQUENCER_LEDGER)
    if not raw:
        return None
    ledger = parse_table(raw, variable=c.ENV_SEQUENCER_LEDGER)
    if not any(target.sequencer_column for target in targets):
        # The ledger orders events by sequencer; a row without one cannot be ordered at all.
        raise ConfigError(
            f"{c.ENV_SEQUENCER_LEDGER} needs a sequencer column: set"
            f" {c.ENV_SEQUENCER_COLUMN} (or sequencer_column in {c.ENV_TARGETS})"
        )
    return ledger


def _field_str(item: dict[str, Any], name: str, where: str, default: str | None = None) -> str:
    value = item.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{name} must be a string")
    return value


def parse_table(raw: str, *, variable: str) -> tuple[str, ...]:
    """`table` or `schema.table`, each part a plain identifier."""
    parts = raw.split(".")
    if len(parts) > 2:
        raise ConfigError(f"{variable}={raw!r}: expected 'table' or 'schema.table'")
    return tuple(identifier(part, variable=variable) for part in parts)


def identifier(raw: str, *, variable: str) -> str:
    if not _IDENTIFIER.fullmatch(raw):
        raise ConfigError(
            f"{variable}={raw!r} is not a plain SQL identifier "
            "(letters, digits and _, not starting with a digit, at most 63 characters)"
        )
    return raw


def _optional_identifier(raw: str | None, *, variable: str) -> str | None:
    return identifier(raw, variable=variable) if raw else None


def _positive_int(env: Mapping[str, str], variable: str, default: int) -> int:
    raw = env.get(variable)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{variable}={raw!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{variable}={raw!r} must be greater than zero")
    return value
