"""What tests build again and again, built one way: names, members of projects (and their API keys),
service accounts with keys, access tokens, the test loop's own database pool; then one section per module
for that module's objects (`# catalogue`: models with versions).

Two ways in: straight into the database (`grant`, `grant_in`: quick, for tests about something else) and
through the HTTP API (`service_account_key`, `access_token`: for tests where the API's own path matters).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import boto3
import httpx
from litestar import Litestar
from sqlalchemy import select

from mlplatform.kernel.db import Database
from mlplatform.modules.catalogue import schemas
from mlplatform.modules.catalogue.rules import Stage
from mlplatform.modules.catalogue.services.lifecycle import LifecycleService
from mlplatform.modules.catalogue.services.models import NewVersion
from mlplatform.modules.gateway.api import Role
from mlplatform.modules.gateway.credentials.api_keys import generate_api_key
from mlplatform.modules.gateway.models import ApiKeyRow, Membership, PrincipalRow, Project


def unique_name(prefix: str, length: int = 10) -> str:
    """`prefix` and random hex: a project (or other) name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:length]}"


def s3_bucket(endpoint: str, prefix: str, length: int = 12) -> str:
    """A new bucket named `prefix` and random hex on the S3 endpoint (moto in the tests)."""
    name = unique_name(prefix, length)
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@asynccontextmanager
async def own_database(url: str) -> AsyncIterator[Database]:
    """A one-connection pool on `url` for the test's own event loop, disposed afterwards.

    The test client runs the app on another event loop, whose pooled connections must not be touched from
    the test's loop: a test reads or writes behind the app's back through a pool of its own."""
    database = Database(url, pool_size=1)
    try:
        yield database
    finally:
        await database.dispose()


# gateway


async def grant(
    app: Litestar,
    *,
    project: str | None = None,
    role: str | None = None,
    platform_admin: bool = False,
    name: str | None = None,
    kind: str = "user",
    key_project: str | None = None,
    key_role: str | None = None,
) -> dict[str, str]:
    """`grant_in` on the database of `app`, through a pool of the test's own."""
    async with own_database(app.state.platform.database.url) as database:
        return await grant_in(
            database,
            project=project,
            role=role,
            platform_admin=platform_admin,
            name=name,
            kind=kind,
            key_project=key_project,
            key_role=key_role,
        )


async def grant_in(
    database: Database,
    *,
    project: str | None = None,
    role: str | None = None,
    platform_admin: bool = False,
    name: str | None = None,
    kind: str = "user",
    key_project: str | None = None,
    key_role: str | None = None,
) -> dict[str, str]:
    """Create a principal (and the project, if missing), give it `role` there, return Bearer headers.

    `key_project` scopes the returned API key to one project; `key_role` caps the role it acts with."""
    name = name or f"{kind.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
    generated = generate_api_key()
    async with database.transaction() as session:
        principal = await session.scalar(
            select(PrincipalRow).where(PrincipalRow.kind == kind, PrincipalRow.name == name)
        )
        if principal is None:
            principal = PrincipalRow(kind=kind, name=name, platform_admin=platform_admin)
            session.add(principal)
            await session.flush()
        if project is not None:
            row = await session.scalar(select(Project).where(Project.name == project))
            if row is None:
                row = Project(name=project, created_by="tests")
                session.add(row)
                await session.flush()
            if role is not None:
                session.add(Membership(project_id=row.id, principal_id=principal.id, role=Role.parse(role)))
        session.add(
            ApiKeyRow(
                key_id=generated.key_id,
                secret_hash=generated.secret_hash,
                principal_id=principal.id,
                name="test",
                project=key_project,
                role_ceiling=Role.parse(key_role) if key_role else None,
            )
        )
    return {"Authorization": f"Bearer {generated.plaintext}"}


async def service_account_key(
    client: httpx.AsyncClient, admin: dict[str, str], name: str = "trainer", key_name: str = "ci"
) -> str:
    """A service account `name` and an API key of its own, made by a platform admin through the API."""
    created = await client.post("/api/v1/service-accounts", json={"name": name}, headers=admin)
    assert created.status_code == 201, created.text
    key = await client.post(
        "/api/v1/api-keys", json={"name": key_name, "owner": f"service_account:{name}"}, headers=admin
    )
    assert key.status_code == 201, key.text
    return str(key.json()["key"])


async def access_token(client: httpx.AsyncClient, client_id: str, secret: str) -> str:
    """An access token from the token endpoint (OAuth2 client credentials, secret in the form)."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = await client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


# catalogue

CATALOGUE_STAGE_PATH: tuple[Stage, ...] = ("validated", "staging", "production")
"""The stages a version walks through, in order, to reach the one a test asks for."""


async def catalogue_model(
    database: Database,
    project: str,
    name: str,
    *,
    versions: int = 0,
    stage: Stage | None = None,
    actor: str = "user:alice",
    **fields: Any,
) -> schemas.Model:
    """A catalogue model (`fields` are `ModelCreate` fields) with `versions` versions numbered from 1, whose
    model URIs are `s3://b/<name>/<number>`; with `stage`, each version is moved along registered →
    validated → staging → production until it reaches `stage` (so at most the last one ends in production).
    Committed in one transaction, as `actor`."""
    stages = CATALOGUE_STAGE_PATH[: CATALOGUE_STAGE_PATH.index(stage) + 1] if stage is not None else ()
    async with database.transaction() as session:
        lifecycle = LifecycleService(session, actor)
        # Built without msgspec's validation: the service's own checks of the fields are what a test sees.
        model = await lifecycle.models.create_model(project, schemas.ModelCreate(name=name, **fields))
        for number in range(1, versions + 1):
            await lifecycle.models.create_version(project, name, NewVersion(model_uri=f"s3://b/{name}/{number}"))
            for target in stages:
                await lifecycle.request_transition(
                    project, name, number, schemas.TransitionCreate(to_stage=target), if_match=None
                )
    return model
