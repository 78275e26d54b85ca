"""Credentials from AWS: a Secrets Manager secret or an SSM SecureString, read once per process (a Lambda cold
start), for the warehouse and the shop database alike."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any


class SecretError(RuntimeError):
    """A secret or parameter could not be read, or has no password: ``source`` names it, ``detail`` says why."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"{source}: {detail}")
        self.source, self.detail = source, detail


@lru_cache(maxsize=8)
def read_secret(secret_arn: str | None, password_param: str | None) -> dict[str, Any]:
    """The secret as a dict with at least ``password`` (a JSON secret's own keys, e.g. an RDS secret's ``username``,
    ``host``, ``port``, ``dbname``; a plain-text secret or a parameter is the password alone)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        if secret_arn:
            region = secret_arn.split(":")[3] if secret_arn.startswith("arn:") and secret_arn.count(":") >= 6 else None
            client = boto3.client("secretsmanager", region_name=region or None)  # an ARN names its region
            text = client.get_secret_value(SecretId=secret_arn)["SecretString"]
            try:
                secret = json.loads(text)
            except ValueError:
                return {"password": text}
            if not isinstance(secret, dict) or "password" not in secret:
                raise SecretError(f"secret {secret_arn}", "JSON without a 'password' key")
            return secret
        value = boto3.client("ssm").get_parameter(Name=password_param, WithDecryption=True)["Parameter"]["Value"]
        return {"password": value}
    except (BotoCoreError, ClientError) as error:
        source = f"secret {secret_arn}" if secret_arn else f"parameter {password_param}"
        raise SecretError(source, str(error)) from error
