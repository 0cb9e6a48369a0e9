"""Where the database is: a URL locally, a Secrets Manager secret (RDS shape) in AWS."""

from __future__ import annotations

import json
import os
from urllib.parse import quote

URL_ENV = "MOTHERFLUXER_DATABASE_URL"
SECRET_ENV = "MOTHERFLUXER_DATABASE_SECRET"


def url_from_secret(secret: dict) -> str:
    """RDS-generated secrets hold host, port, username, password and dbname."""
    user = quote(str(secret["username"]), safe="")
    password = quote(str(secret["password"]), safe="")
    host = secret["host"]
    port = secret.get("port", 5432)
    dbname = secret.get("dbname", "postgres")
    return f"postgresql+psycopg://{user}:{password}@{host}:{port}/{dbname}?sslmode=require"


def database_url(secrets_client=None) -> str:
    """The URL from `MOTHERFLUXER_DATABASE_URL`, else from the secret named in the env."""
    url = os.environ.get(URL_ENV)
    if url:
        return url
    arn = os.environ.get(SECRET_ENV)
    if not arn:
        raise RuntimeError(f"set {URL_ENV} or {SECRET_ENV}")
    if secrets_client is None:
        import boto3

        secrets_client = boto3.client("secretsmanager")
    value = secrets_client.get_secret_value(SecretId=arn)["SecretString"]
    return url_from_secret(json.loads(value))
