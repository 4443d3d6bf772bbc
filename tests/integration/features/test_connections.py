"""Data connections: external PostgreSQL reached only through a connection a platform admin registered and
granted to the project, read-only, with a statement timeout; the platform's own database never.

Regressions of issue 18: a `postgres` source with a query on `mlplatform.gateway_signing_keys` returned the
private signing key through a materialization and an online read; a table source on
`mlplatform.gateway_audit_events` plus an offline push inserted forged audit rows.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pytest
from sqlalchemy import create_engine, select, text

from mlplatform.kernel.secrets import ENCRYPTED
from mlplatform.modules.features.adapters.feast_config import psycopg_url
from mlplatform.modules.features.adapters.files import StoreLocation
from mlplatform.modules.features.models import ConnectionRow
from mlplatform.modules.features.runtime import features_runtime
from mlplatform.settings import ConnectionsSettings, Settings
from tests.integration.features.data import T0, driver_rows
from tests.integration.features.external import ExternalDatabase, create_external_database
from tests.integration.features.stack import Stack
from tests.support.factories import grant, own_database, s3_bucket

TIMEOUT_SECONDS = 2
DRIVER_TYPES = {
    "driver_id": "bigint",
    "event_timestamp": "timestamptz",
    "trips": "bigint",
    "rating": "double precision",
}


@pytest.fixture(scope="module")
def full_settings(full_settings: Settings) -> Iterator[Settings]:
    """The full stack with a short statement timeout (the worker process reads it from its environment)."""
    variable = "MLPLATFORM_CONNECTIONS__STATEMENT_TIMEOUT_SECONDS"
    os.environ[variable] = str(TIMEOUT_SECONDS)
    try:
        yield full_settings.model_copy(
            update={"connections": ConnectionsSettings(statement_timeout_seconds=TIMEOUT_SECONDS)}
        )
    finally:
        os.environ.pop(variable, None)


@pytest.fixture
async def external() -> AsyncIterator[ExternalDatabase]:
    """A database of its own (tests here change its role)."""
    database = await asyncio.to_thread(create_external_database)
    try:
        yield database
    finally:
        await asyncio.to_thread(database.drop)


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


async def register(stack: Stack, body: dict[str, Any], *projects: str) -> Any:
    admin = await stack.admin()
    response = await stack.client.post("/api/v1/connections", json=body, headers=admin)
    for project in projects:
        granted = await stack.client.post(
            f"/api/v1/connections/{body['name']}/grants", json={"project": project}, headers=admin
        )
        assert granted.status_code == 201, granted.text
    return response


async def post(stack: Stack, project: str, kind: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return await stack.client.post(f"{base(project)}/{kind}", json=body, headers=headers)


async def define_view(stack: Stack, project: str, headers: dict[str, str], source: dict[str, Any]) -> None:
    """Entity `driver`, the given source (as `drivers`) and view `driver_stats` over it."""
    assert (
        await post(stack, project, "entities", {"name": "driver", "join_key": "driver_id"}, headers)
    ).status_code == 201
    created = await post(stack, project, "data-sources", {"name": "drivers", **source}, headers)
    assert created.status_code == 201, created.text
    view = {
        "name": "driver_stats",
        "entities": ["driver"],
        "features": [{"name": "trips", "dtype": "int64"}, {"name": "rating", "dtype": "float64"}],
        "source": "drivers",
    }
    assert (await post(stack, project, "feature-views", view, headers)).status_code == 201


async def materialize(stack: Stack, project: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await stack.client.post(
        f"{base(project)}/materializations", json={"start": (T0 - timedelta(days=1)).isoformat()}, headers=headers
    )
    assert response.status_code == 202, response.text
    return await stack.wait_job(headers, response.json())


async def online_trips(stack: Stack, project: str, headers: dict[str, str]) -> list[Any]:
    body = {"features": ["driver_stats:trips"], "entities": {"driver_id": [1, 2]}}
    response = await stack.client.post(f"{base(project)}/online", json=body, headers=headers)
    assert response.status_code == 200, response.text
    values: list[Any] = response.json()["results"][1]["values"]
    return values


def platform_scalar(stack: Stack, sql: str) -> Any:
    engine = create_engine(psycopg_url(stack.settings.resolved_database_url))
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


async def apply_legacy(stack: Stack, project: str, table: str | None = None, query: str | None = None) -> None:
    """A postgres source as it was stored before connections (no connection), with a view and a push source on
    it, written straight into Feast's registry: stored definitions must not be a way around the rules."""

    def apply() -> None:
        from feast import Entity, FeatureView, Field, PushSource, ValueType
        from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import PostgreSQLSource
        from feast.types import String

        store = features_runtime(stack.app.state.platform).gateway.store(project)
        source = PostgreSQLSource(name="legacy", table=table, query=query, timestamp_field="created_at")
        push = PushSource(name="legacy_push", batch_source=source)
        key = Entity(name="kid", join_keys=["kid"], value_type=ValueType.STRING)
        view = FeatureView(
            name="legacy_view",
            entities=[key],
            schema=[Field(name="kid", dtype=String), Field(name="private_jwk", dtype=String)],
            source=push,
            ttl=timedelta(0),
        )
        store.apply([key, source, push, view])

    await asyncio.to_thread(apply)


async def test_admins_register_and_grant_connections_whose_credentials_never_come_back(full_stack: Stack) -> None:
    stack = full_stack
    external = stack.external
    project, member = await stack.project(role="viewer")
    other, _ = await stack.project()
    admin = await stack.admin()
    created = await register(stack, external.body("warehouse", description="the warehouse"))
    assert created.status_code == 201, created.text
    assert created.json()["postgres"] == {
        "host": external.host,
        "port": external.port,
        "database": external.database,
        "user": external.role,
        "sslmode": "prefer",
    }
    contributor = await grant(stack.app, project=project, role="admin")
    for caller in (member, contributor):
        refused = await stack.client.post("/api/v1/connections", json=external.body("mine"), headers=caller)
        assert refused.status_code == 403
        assert (await stack.client.get("/api/v1/connections", headers=caller)).status_code == 403
        grant_attempt = await stack.client.post(
            "/api/v1/connections/warehouse/grants", json={"project": project}, headers=caller
        )
        assert grant_attempt.status_code == 403
    assert (await stack.client.get(f"/api/v1/projects/{project}/connections", headers=member)).json() == []
    granted = await stack.client.post("/api/v1/connections/warehouse/grants", json={"project": project}, headers=admin)
    assert granted.status_code == 201, granted.text
    missing_project = await stack.client.post(
        "/api/v1/connections/warehouse/grants", json={"project": "no-such-project"}, headers=admin
    )
    assert missing_project.status_code == 422
    assert missing_project.json()["field"] == "project"
    listed = await stack.client.get(f"/api/v1/projects/{project}/connections", headers=member)
    assert [c["name"] for c in listed.json()] == ["warehouse"]
    assert (await stack.client.get(f"/api/v1/projects/{other}/connections", headers=member)).status_code == 404
    answers = [
        created.text,
        listed.text,
        (await stack.client.get("/api/v1/connections/warehouse", headers=admin)).text,
        (await stack.client.get("/api/v1/connections", headers=admin)).text,
        (await stack.client.get("/api/v1/connections/warehouse/grants", headers=admin)).text,
    ]
    assert all(external.password not in answer for answer in answers)
    assert (await stack.client.get("/api/v1/connections/warehouse", headers=admin)).json()["projects"] == [project]
    # Stored encrypted (and found by `rotate-secret-key`), decrypted with the platform's key.
    assert ConnectionRow.__table__.c.credentials.info == ENCRYPTED
    async with own_database(stack.settings.resolved_database_url) as database, database.transaction() as session:
        row = await session.scalar(select(ConnectionRow).where(ConnectionRow.name == "warehouse"))
        assert row is not None
        assert external.password not in row.credentials
        assert external.password in stack.app.state.platform.secrets.decrypt_text(row.credentials)
    events = platform_scalar(
        stack,
        "SELECT string_agg(event_type, ',' ORDER BY seq) FROM mlplatform.kernel_outbox_events "
        "WHERE aggregate_id = 'warehouse'",
    )
    assert events == "ConnectionChanged,ConnectionGrantChanged"
    revoked = await stack.client.delete(f"/api/v1/connections/warehouse/grants/{project}", headers=admin)
    assert revoked.status_code == 204
    assert (await stack.client.get(f"/api/v1/projects/{project}/connections", headers=member)).json() == []
    assert (await stack.client.delete("/api/v1/connections/warehouse", headers=admin)).status_code == 204
    assert (await stack.client.get("/api/v1/connections/warehouse", headers=admin)).status_code == 404


async def test_a_read_through_a_granted_connection_materializes_and_serves(full_stack: Stack) -> None:
    stack = full_stack
    project, headers = await stack.project()
    table = stack.create_table(driver_rows(), DRIVER_TYPES)
    connection = await stack.postgres_connection(project)
    await define_view(
        stack,
        project,
        headers,
        {"kind": "postgres", "connection": connection, "table": table, "timestamp_field": "event_timestamp"},
    )
    described = (await stack.client.get(f"{base(project)}/data-sources/drivers", headers=headers)).json()
    assert described["connection"] == connection
    assert described["tags"] == {}
    job = await materialize(stack, project, headers)
    assert job["status"] == "succeeded", job
    assert await online_trips(stack, project, headers) == [3, 10]


async def test_the_signing_key_cannot_be_read_through_a_data_source(
    full_stack: Stack, external: ExternalDatabase
) -> None:
    stack = full_stack
    project, headers = await stack.project()
    assert platform_scalar(stack, "SELECT count(*) FROM mlplatform.gateway_signing_keys") >= 1
    steal = {
        "name": "keys",
        "kind": "postgres",
        "query": "SELECT kid, private_jwk, created_at FROM mlplatform.gateway_signing_keys",
        "timestamp_field": "created_at",
    }
    # Without a connection: refused (it used to run on the platform's database).
    response = await post(stack, project, "data-sources", steal, headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "connection"
    # Through a granted connection: the platform's schemas are not in that database.
    granted = await stack.postgres_connection(project)
    response = await post(stack, project, "data-sources", {**steal, "connection": granted}, headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "query"
    assert "gateway_signing_keys" in response.json()["detail"]
    assert (await stack.client.get(f"{base(project)}/data-sources", headers=headers)).json()["items"] == []

    # The platform's own database can never be registered as a connection ...
    platform = stack.settings.resolved_database_url
    own = {
        **external.body("own_database"),
        "database": platform.rsplit("/", 1)[1],
        "user": "postgres",
        "password": "anything",
    }
    response = await register(stack, own)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "database"
    # ... nor a superuser ...
    response = await register(stack, external.body("as_superuser", user="postgres", password="anything"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "user"
    assert "superuser" in response.json()["detail"]
    # ... nor a database that holds the platform's schemas, whatever address it is reached by.
    external.execute("CREATE SCHEMA mlplatform", f'GRANT USAGE ON SCHEMA mlplatform TO "{external.role}"')
    response = await register(stack, external.body("lookalike"))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "database"
    assert "mlplatform" in response.json()["detail"]
    listed = (await stack.client.get("/api/v1/connections", headers=await stack.admin())).json()["items"]
    assert {"own_database", "as_superuser", "lookalike"}.isdisjoint(c["name"] for c in listed)

    # A source stored before connections existed reads nothing: the materialization fails naming it.
    await apply_legacy(
        stack,
        project,
        query="SELECT kid, private_jwk::text AS private_jwk, created_at FROM mlplatform.gateway_signing_keys",
    )
    response = await stack.client.post(
        f"{base(project)}/materializations", json={"feature_views": ["legacy_view"]}, headers=headers
    )
    assert response.status_code == 202, response.text
    job = await stack.wait_job(headers, response.json())
    assert job["status"] == "failed", job
    assert "names no connection" in job["error"]
    body = {"features": ["legacy_view:private_jwk"], "entities": {"kid": ["any"]}}
    answer = await stack.client.post(f"{base(project)}/online", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["results"][1]["values"] == [None]


async def test_forged_audit_rows_cannot_be_pushed(full_stack: Stack) -> None:
    stack = full_stack
    project, headers = await stack.project()
    forged = "forged-by-push"
    audit = {
        "name": "audit",
        "kind": "postgres",
        "table": "mlplatform.gateway_audit_events",
        "timestamp_field": "occurred_at",
    }
    response = await post(stack, project, "data-sources", audit, headers)
    assert response.status_code == 422
    assert response.json()["field"] == "connection"
    # A push source may not write into any source on a connection: connections are read-only.
    connection = await stack.postgres_connection(project)
    table = stack.create_table(driver_rows(), DRIVER_TYPES)
    source = {
        "name": "drivers",
        "kind": "postgres",
        "connection": connection,
        "table": table,
        "timestamp_field": "event_timestamp",
    }
    assert (await post(stack, project, "data-sources", source, headers)).status_code == 201
    response = await post(
        stack, project, "data-sources", {"name": "pusher", "kind": "push", "batch_source": "drivers"}, headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "batch_source"
    # A push source stored before that rule, on the audit table: the offline push is refused, nothing written.
    await apply_legacy(stack, project, table="mlplatform.gateway_audit_events")
    rows = [{"kid": forged, "private_jwk": forged, "created_at": T0.isoformat()}]
    for to in ("offline", "online_and_offline"):
        response = await stack.client.post(
            f"{base(project)}/push", json={"push_source": "legacy_push", "rows": rows, "to": to}, headers=headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == "to"
    found = platform_scalar(
        stack, f"SELECT count(*) FROM mlplatform.gateway_audit_events WHERE actor = '{forged}' OR action = '{forged}'"
    )
    assert found == 0
    assert len(external_rows(stack, table)) == len(driver_rows())


def external_rows(stack: Stack, table: str) -> list[Any]:
    return stack.external.execute(f"SELECT * FROM {table}")


async def test_a_connection_granted_to_another_project_is_refused(full_stack: Stack) -> None:
    stack = full_stack
    owner, owner_headers = await stack.project()
    intruder, headers = await stack.project()
    table = stack.create_table(driver_rows(), DRIVER_TYPES)
    connection = await stack.postgres_connection(owner)
    source = {"kind": "postgres", "connection": connection, "table": table, "timestamp_field": "event_timestamp"}
    refused = await post(stack, intruder, "data-sources", {"name": "drivers", **source}, headers)
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "connection"
    unknown = await post(stack, intruder, "data-sources", {"name": "drivers", **source, "connection": "nope"}, headers)
    assert unknown.status_code == 422
    assert refused.json()["detail"].replace(connection, "X") == unknown.json()["detail"].replace("nope", "X")
    # Revoking a grant stops the sources that used it.
    await define_view(stack, owner, owner_headers, source)
    revoked = await stack.client.delete(f"/api/v1/connections/{connection}/grants/{owner}", headers=await stack.admin())
    assert revoked.status_code == 204
    job = await materialize(stack, owner, owner_headers)
    assert job["status"] == "failed", job
    assert "is granted to project" in job["error"]


async def test_connections_are_read_only(full_stack: Stack, external: ExternalDatabase) -> None:
    stack = full_stack
    project, headers = await stack.project()
    table = external.create_table(driver_rows(), DRIVER_TYPES)
    # The role could write (so only the read-only session stops it).
    external.execute(
        "CREATE TABLE public.writes (n int)",
        f'GRANT INSERT, SELECT ON public.writes TO "{external.role}"',
        "CREATE FUNCTION public.bump() RETURNS bigint LANGUAGE sql "
        "AS 'INSERT INTO public.writes VALUES (1); SELECT 0::bigint'",
        f'GRANT EXECUTE ON FUNCTION public.bump() TO "{external.role}"',
    )
    assert (await register(stack, external.body("writable"), project)).status_code == 201
    query = f"SELECT driver_id, event_timestamp, trips + public.bump() AS trips, rating FROM {table}"
    await define_view(
        stack,
        project,
        headers,
        {"kind": "postgres", "connection": "writable", "query": query, "timestamp_field": "event_timestamp"},
    )
    job = await materialize(stack, project, headers)
    assert job["status"] == "failed", job
    assert "read-only" in job["error"]
    assert job["attempts"] == 1
    # Appending statements to the query is refused too.
    injected = (
        f"SELECT * FROM {table}) AS x; INSERT INTO public.writes VALUES (2); SELECT * FROM (SELECT * FROM {table}"
    )
    response = await post(
        stack,
        project,
        "data-sources",
        {
            "name": "injected",
            "kind": "postgres",
            "connection": "writable",
            "query": injected,
            "timestamp_field": "event_timestamp",
        },
        headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "query"
    assert external.execute("SELECT count(*) FROM public.writes") == [(0,)]


async def test_a_slow_query_stops_at_the_statement_timeout(full_stack: Stack, external: ExternalDatabase) -> None:
    stack = full_stack
    project, headers = await stack.project()
    table = external.create_table(driver_rows(), DRIVER_TYPES)
    assert (await register(stack, external.body("slow"), project)).status_code == 201
    query = f"SELECT t.* FROM {table} t, LATERAL (SELECT pg_sleep(5)) s"
    await define_view(
        stack,
        project,
        headers,
        {"kind": "postgres", "connection": "slow", "query": query, "timestamp_field": "event_timestamp"},
    )
    started = asyncio.get_running_loop().time()
    job = await materialize(stack, project, headers)
    assert job["status"] == "failed", job
    assert "statement timeout" in job["error"]
    assert f"{TIMEOUT_SECONDS} s" in job["error"]
    assert asyncio.get_running_loop().time() - started < 15  # 4 rows x 5 s without the timeout


async def test_the_role_is_checked_again_before_every_use(full_stack: Stack, external: ExternalDatabase) -> None:
    stack = full_stack
    project, headers = await stack.project()
    table = external.create_table(driver_rows(), DRIVER_TYPES)
    assert (await register(stack, external.body("promoted"), project)).status_code == 201
    await define_view(
        stack,
        project,
        headers,
        {"kind": "postgres", "connection": "promoted", "table": table, "timestamp_field": "event_timestamp"},
    )
    external.execute(f'GRANT pg_read_server_files TO "{external.role}"')
    job = await materialize(stack, project, headers)
    assert job["status"] == "failed", job
    assert "pg_read_server_files" in job["error"]
    external.execute(f'REVOKE pg_read_server_files FROM "{external.role}"')
    job = await materialize(stack, project, headers)
    assert job["status"] == "succeeded", job


async def test_registration_refuses_what_it_cannot_check(full_stack: Stack, external: ExternalDatabase) -> None:
    stack = full_stack
    cases: list[tuple[dict[str, Any], str]] = [
        (external.body("no_password", password=None), "password"),
        (external.body("socket", host="/var/run/postgresql"), "host"),
        (external.body("wrong_password_port", port=1), "host"),
        (external.body("with_bucket", bucket="b"), "bucket"),
        ({"name": "dsn_opts", "kind": "postgres", "dsn": "postgresql://u:p@h/db?host=/tmp"}, "dsn"),
        ({**external.body("both"), "dsn": "postgresql://u:p@h/db"}, "host"),
    ]
    for body, field in cases:
        response = await register(stack, {k: v for k, v in body.items() if v is not None})
        assert response.status_code == 422, (body, response.text)
        assert response.json()["field"] == field, (body, response.text)
    dsn = f"postgresql://{external.role}:{external.password}@{external.host}:{external.port}/{external.database}"
    response = await register(stack, {"name": "by_dsn", "kind": "postgres", "dsn": dsn})
    assert response.status_code == 201, response.text
    assert response.json()["postgres"]["user"] == external.role
    assert external.password not in response.text
    assert (await register(stack, {"name": "by_dsn", "kind": "postgres", "dsn": dsn})).status_code == 409
    admin = await stack.admin()
    assert (await stack.client.delete("/api/v1/connections/by_dsn", headers=admin)).status_code == 204


async def test_a_parquet_source_on_an_s3_connection_stays_inside_its_prefix(full_stack: Stack) -> None:
    stack = full_stack
    project, headers = await stack.project()
    endpoint = stack.settings.s3_endpoint_url
    assert endpoint is not None
    bucket = s3_bucket(endpoint, "lake-", 10)
    lake = StoreLocation(f"s3://{bucket}", endpoint, "us-east-1")
    lake.write(lake.uri_for("raw/drivers/part-0.parquet"), pa.Table.from_pandas(driver_rows(), preserve_index=False))
    lake.write(lake.uri_for("secret/other.parquet"), pa.Table.from_pandas(driver_rows(), preserve_index=False))
    body = {
        "name": "lake",
        "kind": "s3",
        "bucket": bucket,
        "prefix": "raw",
        "endpoint_url": endpoint,
        "region": "us-east-1",
        "access_key_id": "lake-key",
        "secret_access_key": "lake-secret-value",
    }
    created = await register(stack, body, project)
    assert created.status_code == 201, created.text
    assert created.json()["s3"] == {"bucket": bucket, "prefix": "raw", "endpoint_url": endpoint, "region": "us-east-1"}
    assert "lake-secret-value" not in created.text
    assert "lake-key" not in created.text
    # The platform's own object store (every project's files, MLflow's artifacts) is never a connection.
    platform_bucket = urlsplit(stack.settings.resolved_storage_url).netloc
    for prefix in ("", "platform", "platform/projects"):
        own = {**body, "name": "own_store", "bucket": platform_bucket, "prefix": prefix}
        response = await register(stack, own)
        assert response.status_code == 422, (prefix, response.text)
        assert response.json()["field"] == "prefix"
    # Paths stay inside the connection's prefix.
    for path in ("../secret/other.parquet", "/raw/drivers", "s3://other/x", "a/../../secret", "drivers\\..\\x"):
        source = {
            "name": "escape",
            "kind": "parquet",
            "connection": "lake",
            "path": path,
            "timestamp_field": "event_timestamp",
        }
        response = await post(stack, project, "data-sources", source, headers)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["field"] == "path", (path, response.text)
    await define_view(
        stack,
        project,
        headers,
        {"kind": "parquet", "connection": "lake", "path": "drivers", "timestamp_field": "event_timestamp"},
    )
    described = (await stack.client.get(f"{base(project)}/data-sources/drivers", headers=headers)).json()
    assert (described["connection"], described["path"], described["uri"]) == ("lake", "drivers", None)
    job = await materialize(stack, project, headers)
    assert job["status"] == "succeeded", job
    assert await online_trips(stack, project, headers) == [3, 10]
    # Read-only: no push source may write into it.
    pusher = {"name": "pusher", "kind": "push", "batch_source": "drivers"}
    response = await post(stack, project, "data-sources", pusher, headers)
    assert response.status_code == 422
    assert response.json()["field"] == "batch_source"
    # A postgres source cannot use an s3 connection (and the other way round).
    wrong = {"name": "pg", "kind": "postgres", "connection": "lake", "table": "t", "timestamp_field": "event_timestamp"}
    response = await post(stack, project, "data-sources", wrong, headers)
    assert response.status_code == 422
    assert response.json()["field"] == "connection"
