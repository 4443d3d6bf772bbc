"""The registry port's rules that need no server: project names, which methods are served, settings."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlplatform.modules.features.adapters.feast_config import feast_project
from mlplatform.modules.features.adapters.registry_access import PROJECT_FIELD, Call, platform_project, visible_to
from mlplatform.modules.gateway.api import Principal, Role
from mlplatform.settings import Settings

KEY = "kM3f1T7bVwN1qZ8c4y2nJ0oP6rS5uXgHdLeAiBvWtCs="


def test_feast_names_map_back_to_exactly_one_platform_project() -> None:
    for name in ("ride-share", "p1", "a-b-c-9"):
        assert platform_project(feast_project(name)) == name
    for foreign in ("", "ride-share", "Ride_Share", "_x", "x_", "a.b", "a b", "x" * 64):
        assert platform_project(foreign) is None, foreign


def test_only_reads_of_the_registry_service_are_served() -> None:
    def served(method: str) -> bool:
        return Call(method=method, authorization=None, client="127.0.0.1").served

    assert served("/feast.registry.RegistryServer/ListFeatureViews")
    assert served("/feast.registry.RegistryServer/Proto")
    for refused in (
        "/feast.registry.RegistryServer/ApplyEntity",
        "/feast.registry.RegistryServer/DeleteFeatureView",
        "/feast.registry.RegistryServer/Commit",
        "/feast.registry.RegistryServer/UpdateInfra",
        "/feast.registry.RegistryServer/ApplyMaterialization",
        "/feast.registry.RegistryServer/CreateDatasetFromRetrieval",
        "/feast.registry.RegistryServer/GetDatasetData",
        "/other.Service/ListFeatureViews",
    ):
        assert not served(refused), refused
    assert not any(name.startswith(("Apply", "Delete", "Update")) for name in PROJECT_FIELD)


def test_whole_registry_answers_keep_the_callers_projects() -> None:
    viewer = Principal(id=uuid.uuid4(), kind="user", name="v", project_roles={"ride-share": Role.VIEWER})
    assert visible_to(viewer, "ride_share")
    assert not visible_to(viewer, "fraud")
    assert not visible_to(viewer, "ride-share")  # not a Feast name the platform writes
    admin = Principal(id=uuid.uuid4(), kind="user", name="a", platform_admin=True)
    assert visible_to(admin, "fraud")


def test_production_serves_the_registry_to_other_machines_only_behind_tls(tmp_path: Path) -> None:
    production = {"env": "production", "server": {"public_url": "https://ml.example.com"}, "secrets": {"keys": [KEY]}}
    assert Settings(data_dir=tmp_path, **production)  # loopback only: fine
    for exposed in ({"public_address": "feast.example.com:443"}, {"host": "0.0.0.0"}):
        with pytest.raises(ValidationError, match="MLPLATFORM_FEAST_REGISTRY__PUBLIC_TLS"):
            Settings(data_dir=tmp_path, feast_registry=exposed, **production)
        assert Settings(data_dir=tmp_path, feast_registry={**exposed, "public_tls": True}, **production)
    assert Settings(data_dir=tmp_path, feast_registry={"host": "0.0.0.0", "enabled": False}, **production)
