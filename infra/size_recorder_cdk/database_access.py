"""How a function logs in to the recorder's database: the variables that tell it how, and the
grant that lets it. The recorder's function and the reconciliation's batches log in alike."""

from __future__ import annotations

from aws_cdk import Aws, Resource, Tokenization
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from size_recorder import constants as c
from size_recorder_cdk.props import SizeRecorderProps


def database_environment(props: SizeRecorderProps) -> dict[str, str]:
    """The variables that tell the recorder how to log in: the secret's ARN or the IAM user,
    and the address variables that are set (with IAM auth, from the database object)."""
    if props.database_secret is not None:
        credentials = {c.ENV_DB_SECRET_ARN: props.database_secret.secret_arn}
        host, port, name = props.database_host, None, props.database_name
    else:
        assert props.database_user is not None  # validate() guarantees it
        credentials = {c.ENV_DB_IAM_USER: props.database_user}
        host, port = _iam_endpoint(props)
        name = props.database_name or c.DEFAULT_DB_NAME
        if props.database_host is not None:
            host = props.database_host
    if props.database_port is not None:
        port = Tokenization.stringify_number(props.database_port)
    address = {c.ENV_DB_HOST: host, c.ENV_DB_PORT: port, c.ENV_DB_NAME: name}
    return {**credentials, **{k: v for k, v in address.items() if v is not None}}


def grant_database(props: SizeRecorderProps, function: lambda_.Function) -> None:
    """Let `function` log in as `database_environment` tells it to."""
    database = props.iam_database
    if database is not None:
        assert props.database_user is not None  # validate() guarantees it
        # rds-db:connect on this user of this database (its resource id in the ARN).
        database.grant_connect(function, props.database_user)
        return
    secret = props.database_secret
    assert secret is not None  # validate() guarantees one of the two
    secret.grant_read(function)
    key = secret.encryption_key
    if key is not None and not Resource.is_owned_resource(key):
        # CDK's grant_read drops the decrypt grant for a key it does not own (measured with
        # aws-cdk-lib 2.275: no kms statement at all), so state it: decrypt only on behalf
        # of Secrets Manager, never directly.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{Aws.REGION}.{Aws.URL_SUFFIX}"
                    }
                },
            )
        )


def _iam_endpoint(props: SizeRecorderProps) -> tuple[str, str | None]:
    """(host, port) of the instance, cluster or proxy that IAM auth logs in to."""
    if props.database_instance is not None:
        instance = props.database_instance
        return instance.db_instance_endpoint_address, instance.db_instance_endpoint_port
    if props.database_cluster is not None:
        endpoint = props.database_cluster.cluster_endpoint
        return endpoint.hostname, Tokenization.stringify_number(endpoint.port)
    assert props.database_proxy is not None  # validate() guarantees one of the three
    # RDS Proxy for PostgreSQL listens on 5432, the recorder's default port: leave it unset.
    return props.database_proxy.endpoint, None
