"""Which database the settings name: exactly one of DATABASE_URL, a secret, or IAM auth, and the
address variables that go with the last two."""

from __future__ import annotations

import pytest

from size_recorder import constants as c
from size_recorder.core.config import ConfigError, Settings

TABLE = {c.ENV_TABLE: "documents_document"}
URL = {c.ENV_DATABASE_URL: "postgresql://localhost/app"}
SECRET = {
    c.ENV_DB_SECRET_ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-1a2b-AbCdEf"
}
IAM = {
    c.ENV_DB_IAM_USER: "size_recorder",
    c.ENV_DB_HOST: "documents.cluster-abc.eu-west-1.rds.amazonaws.com",
    c.ENV_DB_NAME: "app",
}


def test_iam_auth_settings_are_read_with_port_5432_left_to_the_connection() -> None:
    loaded = Settings.from_env({**TABLE, **IAM, c.ENV_AWS_REGION: "eu-west-1"})
    assert (loaded.db_iam_user, loaded.db_host, loaded.db_name) == (
        "size_recorder",
        IAM[c.ENV_DB_HOST],
        "app",
    )
    assert loaded.db_port is None
    assert loaded.aws_region == "eu-west-1"
    assert loaded.database_url is None
    assert loaded.db_secret_arn is None


def test_no_database_names_all_three_ways() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env(TABLE)
    for variable in (c.ENV_DATABASE_URL, c.ENV_DB_SECRET_ARN, c.ENV_DB_IAM_USER):
        assert variable in str(error.value)


@pytest.mark.parametrize(
    ("first", "second"),
    [(URL, SECRET), (URL, IAM), (SECRET, IAM)],
    ids=["url+secret", "url+iam", "secret+iam"],
)
def test_two_databases_at_once_are_refused_naming_both(
    first: dict[str, str], second: dict[str, str]
) -> None:
    chosen = [
        name
        for name in (c.ENV_DATABASE_URL, c.ENV_DB_SECRET_ARN, c.ENV_DB_IAM_USER)
        if name in {**first, **second}
    ]
    with pytest.raises(ConfigError, match=f"{chosen[0]} and {chosen[1]} are set together"):
        Settings.from_env({**TABLE, **first, **second})


@pytest.mark.parametrize("missing", [c.ENV_DB_HOST, c.ENV_DB_NAME])
def test_iam_auth_without_an_address_names_the_missing_variable(missing: str) -> None:
    env = {**TABLE, **IAM}
    del env[missing]
    with pytest.raises(ConfigError, match=f"{c.ENV_DB_IAM_USER}.*needs {missing}"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "variable", [c.ENV_DB_HOST, c.ENV_DB_PORT, c.ENV_DB_NAME, c.ENV_DB_SSL_ROOT_CERT]
)
def test_address_variables_beside_database_url_are_refused(variable: str) -> None:
    """DATABASE_URL says everything; a variable it would silently override is an error."""
    with pytest.raises(ConfigError, match=f"{variable} cannot be combined with DATABASE_URL"):
        Settings.from_env({**TABLE, **URL, variable: "5432"})


@pytest.mark.parametrize(
    ("raw", "message"), [("fivefour", "not a whole number"), ("70000", "not a TCP port")]
)
def test_bad_port_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"{c.ENV_DB_PORT}='{raw}' is {message}"):
        Settings.from_env({**TABLE, **IAM, c.ENV_DB_PORT: raw})


def test_secret_may_take_its_address_from_the_variables() -> None:
    """An RDS-managed secret (`rds!db-…`) holds no host: the variables supply it."""
    loaded = Settings.from_env(
        {**TABLE, **SECRET, c.ENV_DB_HOST: "proxy.example", c.ENV_DB_PORT: "6432"}
    )
    assert loaded.db_secret_arn == SECRET[c.ENV_DB_SECRET_ARN]
    assert (loaded.db_host, loaded.db_port, loaded.db_name) == ("proxy.example", 6432, None)


def test_iam_auth_takes_libpqs_ca_bundle_variable_as_its_root_certificate() -> None:
    loaded = Settings.from_env({**TABLE, **IAM, c.ENV_PGSSLROOTCERT: "/opt/rds-ca.pem"})
    assert loaded.db_ssl_root_cert == "/opt/rds-ca.pem"


def test_secret_leaves_libpqs_ca_bundle_variable_to_libpq() -> None:
    """Unchanged for secrets: libpq reads PGSSLROOTCERT with PGSSLMODE, as it always has."""
    loaded = Settings.from_env({**TABLE, **SECRET, c.ENV_PGSSLROOTCERT: "/opt/rds-ca.pem"})
    assert loaded.db_ssl_root_cert is None


def test_recorders_own_root_certificate_wins_over_libpqs() -> None:
    loaded = Settings.from_env(
        {
            **TABLE,
            **IAM,
            c.ENV_PGSSLROOTCERT: "/etc/other.pem",
            c.ENV_DB_SSL_ROOT_CERT: "/opt/rds-ca.pem",
        }
    )
    assert loaded.db_ssl_root_cert == "/opt/rds-ca.pem"


def test_region_falls_back_to_aws_default_region() -> None:
    loaded = Settings.from_env({**TABLE, **IAM, c.ENV_AWS_DEFAULT_REGION: "ap-southeast-2"})
    assert loaded.aws_region == "ap-southeast-2"
