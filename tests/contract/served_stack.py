"""The platform the contract test fuzzes: `mlplatform serve` on the full stack (PostgreSQL, Redis, S3 on moto),
rate limits off (Schemathesis sends thousands of requests), one bootstrap admin key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlplatform.settings import Settings
from tests.support.served import Served, serve, worker_env

ADMIN_KEY = f"contract-admin-{uuid.uuid4().hex}"


def stack_env(settings: Settings) -> dict[str, str]:
    """What `serve` (and a worker) need to run on `settings`' stack, with rate limits off and the admin key."""
    env = {key: value for key, value in worker_env(settings).items() if key.startswith("MLPLATFORM_")}
    return {
        **env,
        "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "MLPLATFORM_RATE_LIMITS__ENABLED": "false",
        "MLPLATFORM_LOG_LEVEL": "WARNING",
    }


@contextmanager
def served_stack(settings: Settings, workdir: Path) -> Iterator[Served]:
    with serve(workdir, stack_env(settings), log=workdir / "serve.log") as served:
        yield served


def lake_bucket(settings: Settings) -> dict[str, str]:
    """A bucket of the stack's S3 endpoint that is not the platform's own store, as a connection's fields."""
    import boto3

    bucket = f"contract-lake-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=settings.s3_endpoint_url, region_name="us-east-1").create_bucket(Bucket=bucket)
    return {
        "bucket": bucket,
        "endpoint_url": settings.s3_endpoint_url or "",
        "region": "us-east-1",
        "access_key_id": "lake-key",
        "secret_access_key": "lake-secret-value",
    }
