"""The stock Feast SDK against the platform's registry port, with a platform credential only.

The served `feature_store.yaml` names no database and nothing from the request; the registry port (Feast's
gRPC registry server behind the gateway's checks) shows a caller only the projects they view, and refuses
every write, whoever asks.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mlplatform.modules.features.runtime import features_runtime
from tests.integration.features.data import define
from tests.integration.features.stack import Stack
from tests.support.factories import grant


def base(project: str) -> str:
    return f"/api/v1/projects/{project}/features"


def token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def registry_address(stack: Stack) -> str:
    address = features_runtime(stack.app.state.platform).registry_endpoint.public_address()
    assert address is not None
    return address


async def served_yaml(stack: Stack, project: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await stack.client.get(f"{base(project)}/feature_store.yaml", headers=headers)
    assert response.status_code == 200, response.text
    loaded: dict[str, Any] = yaml.safe_load(response.text)
    return loaded


_TOKEN_VARIABLES: list[str] = []


@pytest.fixture(autouse=True)
def _forget_tokens() -> Iterator[None]:
    yield
    while _TOKEN_VARIABLES:
        os.environ.pop(_TOKEN_VARIABLES.pop(), None)


def sdk(config: dict[str, Any], credential: str, *, project: str | None = None) -> Any:
    """A stock `FeatureStore` on the served config, presenting `credential` (through its own variable, so
    stores of different callers can live side by side)."""
    from feast import FeatureStore, RepoConfig

    variable = f"MLPLATFORM_TEST_TOKEN_{uuid.uuid4().hex[:8].upper()}"
    os.environ[variable] = credential
    _TOKEN_VARIABLES.append(variable)
    settings = {**config, "auth": {**config["auth"], "token_env_var": variable}}
    if project is not None:
        settings["project"] = project
    return FeatureStore(config=RepoConfig(**settings))


async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Feast's SDK blocks: keep it off the test's event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


async def test_feature_store_yaml_names_no_database_and_nothing_from_the_request(stack: Stack) -> None:
    project, headers = await stack.project(role="viewer")
    forged = {**headers, "Host": "attacker.example.net", "X-Forwarded-Host": "attacker2.example.net"}
    response = await stack.client.get(f"{base(project)}/feature_store.yaml", headers=forged)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/yaml")
    text = response.text
    assert "attacker" not in text
    assert "testserver" not in text
    for leak in ("postgres", "psycopg", "sqlite", "search_path", "password", "PASSWORD", "5432", "offline_store"):
        assert leak not in text, leak
    database = urlsplit(stack.settings.resolved_database_url)
    if stack.full:
        assert database.path.strip("/") not in text
    config = yaml.safe_load(text)
    assert config["project"] == project.replace("-", "_")
    assert config["registry"] == {"registry_type": "remote", "path": registry_address(stack)}
    assert config["online_store"] == {"type": "remote", "path": f"http://127.0.0.1:8000/feast/{project}"}
    assert config["auth"] == {"type": "oidc", "token_env_var": "MLPLATFORM_TOKEN"}


async def test_the_sdk_sees_only_the_projects_its_caller_views(stack: Stack) -> None:
    mine, owner = await stack.project()
    theirs, other_owner = await stack.project()
    await define(stack, mine, owner)
    entity = {"name": "store", "join_key": "store_id"}
    assert (await stack.client.post(f"{base(theirs)}/entities", json=entity, headers=other_owner)).status_code == 201
    viewer = await grant(stack.app, project=mine, role="viewer")
    config = await served_yaml(stack, mine, owner)

    store = sdk(config, token(viewer))
    views = await call(store.list_feature_views)
    assert sorted(v.name for v in views) == ["customer_stats", "driver_stats"]
    assert sorted(e.name for e in await call(store.list_entities)) == ["customer", "driver"]
    assert (await call(store.get_feature_view, "driver_stats")).entities == ["driver"]
    assert [s.name for s in await call(store.list_feature_services)] == ["training"]
    assert [p.name for p in await call(store.list_projects)] == [config["project"]]
    whole = await call(store.registry.proto)
    assert {p.spec.name for p in whole.projects} == {config["project"]}
    entities = sorted(e.spec.name for e in whole.entities if not e.spec.name.startswith("__"))  # Feast's dummy
    assert entities == ["customer", "driver"]  # not the other project's `store`
    assert sorted(v.spec.name for v in whole.feature_views) == ["customer_stats", "driver_stats"]

    from feast.errors import FeastError, ProjectNotFoundException

    their_feast_name = theirs.replace("-", "_")
    for attempt in (
        lambda: store.registry.list_entities(project=their_feast_name),
        lambda: store.registry.get_entity("store", project=their_feast_name),
        lambda: store.registry.list_feature_views(project="", allow_cache=False),
        lambda: store.registry.get_project(their_feast_name),
        lambda: sdk(config, token(viewer), project=their_feast_name).list_entities(),
    ):
        with pytest.raises(FeastError):
            await call(attempt)
    with pytest.raises(ProjectNotFoundException):
        await call(store.registry.list_entities, project=their_feast_name)

    # The other project's owner, and a key of a member of both scoped to the other project, see nothing here.
    for outsider in (other_owner, await scoped_elsewhere(stack, mine, theirs)):
        with pytest.raises(ProjectNotFoundException):
            await call(sdk(config, token(outsider)).list_feature_views)
    with pytest.raises(FeastError, match="invalid credentials"):
        await call(sdk(config, "mlp_not-a-real-key").list_feature_views)


async def scoped_elsewhere(stack: Stack, mine: str, theirs: str) -> dict[str, str]:
    name = f"both-{uuid.uuid4().hex[:8]}"
    await grant(stack.app, project=mine, role="viewer", name=name)
    return await grant(stack.app, project=theirs, role="viewer", name=name, key_project=theirs)


async def test_the_registry_port_refuses_every_write(stack: Stack) -> None:
    from feast import Entity
    from feast.errors import FeastPermissionError

    project, owner = await stack.project(role="admin")
    await define(stack, project, owner)
    config = await served_yaml(stack, project, owner)
    feast_name = config["project"]
    before = sorted(e.name for e in await call(sdk(config, token(owner)).list_entities))
    admin = await grant(stack.app, platform_admin=True)
    for credential in (owner, admin):
        store = sdk(config, token(credential))
        intruder = Entity(name="intruder", join_keys=["intruder_id"])
        for attempt in (
            partial(store.apply, [intruder]),
            partial(store.registry.apply_entity, intruder, feast_name),
            partial(store.registry.delete_feature_view, "driver_stats", feast_name),
            partial(store.registry.delete_entity, "customer", feast_name),
            store.registry.commit,
        ):
            with pytest.raises(FeastPermissionError, match="read-only"):
                await call(attempt)
    after = sorted(e.name for e in await call(sdk(config, token(owner)).list_entities))
    assert after == before == ["customer", "driver"]
    listed = await stack.client.get(f"{base(project)}/feature-views", headers=owner)
    assert sorted(v["name"] for v in listed.json()["items"]) == ["customer_stats", "driver_stats"]

    # Each refusal is in the audit log, as the gateway records refused HTTP calls.
    subject = (await stack.client.get("/api/v1/me", headers=owner)).json()["subject"]
    audit = await stack.client.get(
        "/api/v1/audit-events", params={"actor": subject, "outcome": "denied"}, headers=admin
    )
    assert audit.status_code == 200, audit.text
    refused = {(row["method"], row["action"], row["status_code"]) for row in audit.json()["items"]}
    assert ("GRPC", "ApplyEntity", 403) in refused
    assert ("GRPC", "Commit", 403) in refused
