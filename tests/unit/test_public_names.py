"""The environment variables are a public contract: deployed functions, operators' shells and
Django settings name them. They are spelled out here, literally, once; every other test takes
them from `size_recorder.constants`, so this is the test that fails when one is renamed."""

from __future__ import annotations

from size_recorder import constants as c

PUBLIC_VARIABLES = {
    "ENV_DATABASE_URL": "DATABASE_URL",
    "ENV_DB_SECRET_ARN": "SIZE_RECORDER_DB_SECRET_ARN",
    "ENV_TABLE": "SIZE_RECORDER_TABLE",
    "ENV_KEY_COLUMN": "SIZE_RECORDER_KEY_COLUMN",
    "ENV_SIZE_COLUMN": "SIZE_RECORDER_SIZE_COLUMN",
    "ENV_KEY_PREFIX": "SIZE_RECORDER_KEY_PREFIX",
    "ENV_SEQUENCER_COLUMN": "SIZE_RECORDER_SEQUENCER_COLUMN",
    "ENV_TARGETS": "SIZE_RECORDER_TARGETS",
    "ENV_SEQUENCER_LEDGER": "SIZE_RECORDER_SEQUENCER_LEDGER",
    "ENV_STATEMENT_TIMEOUT_MS": "SIZE_RECORDER_STATEMENT_TIMEOUT_MS",
    "ENV_CONNECT_TIMEOUT_S": "SIZE_RECORDER_CONNECT_TIMEOUT_S",
    "ENV_UNMATCHED_RETRY_BASE_S": "SIZE_RECORDER_UNMATCHED_RETRY_BASE_S",
    "ENV_UNMATCHED_RETRY_MAX_S": "SIZE_RECORDER_UNMATCHED_RETRY_MAX_S",
    "ENV_DB_IAM_USER": "SIZE_RECORDER_DB_IAM_USER",
    "ENV_DB_HOST": "SIZE_RECORDER_DB_HOST",
    "ENV_DB_PORT": "SIZE_RECORDER_DB_PORT",
    "ENV_DB_NAME": "SIZE_RECORDER_DB_NAME",
    "ENV_DB_SSL_ROOT_CERT": "SIZE_RECORDER_DB_SSL_ROOT_CERT",
    # Not ours, but read: libpq's and the Lambda runtime's.
    "ENV_PGSSLROOTCERT": "PGSSLROOTCERT",
    "ENV_AWS_REGION": "AWS_REGION",
    "ENV_AWS_DEFAULT_REGION": "AWS_DEFAULT_REGION",
}


def test_every_public_variable_keeps_its_documented_name() -> None:
    assert {name: getattr(c, name, None) for name in PUBLIC_VARIABLES} == PUBLIC_VARIABLES


def test_a_new_variable_constant_is_added_to_the_public_list() -> None:
    constants = {name for name in vars(c) if name.startswith("ENV_")}
    assert constants == set(PUBLIC_VARIABLES), "a new variable is public: spell it out above"
