"""The pure parts of MLflow authorization: project naming, request field reading, endpoint matching."""

from __future__ import annotations

import json

import pytest

from mlplatform.modules.experiments.authz.errors import MlflowDenied
from mlplatform.modules.experiments.authz.gate import RULES, _full_path
from mlplatform.modules.experiments.authz.projects import (
    LruCache,
    project_of_experiment_name,
    project_of_model_name,
    project_tag,
)
from mlplatform.modules.experiments.authz.request import MlflowCall


@pytest.mark.parametrize(
    ("name", "project"),
    [
        ("churn/baseline", "churn"),
        ("churn/a/b", "churn"),
        ("fraud-2/x", "fraud-2"),
        ("Churn/x", None),
        ("churn/", None),
        ("churn", None),
        ("-bad/x", None),
        ("/Users/someone/exp", None),
    ],
)
def test_experiment_names_carry_the_project(name: str, project: str | None) -> None:
    assert project_of_experiment_name(name) == project


@pytest.mark.parametrize(
    ("name", "project"),
    [("churn.classifier", "churn"), ("churn.v2.model", "churn"), ("classifier", None), ("Churn.x", None), ("p.", None)],
)
def test_model_names_carry_the_project(name: str, project: str | None) -> None:
    assert project_of_model_name(name) == project


def test_project_tag_from_dicts_and_tag_lists() -> None:
    assert project_tag({"mlplatform.project": "p1"}) == "p1"
    assert project_tag([{"key": "a", "value": "b"}, {"key": "mlplatform.project", "value": "p2"}]) == "p2"
    assert project_tag([{"key": "a", "value": "b"}]) is None
    assert project_tag(None) is None


def test_fields_come_from_the_query_for_get_and_the_body_otherwise() -> None:
    get = MlflowCall.build("GET", "/ajax-api/2.0/mlflow/runs/get", b"run_id=a&run_id=b&runUuid=c")
    get.parse_body(b"")
    assert get.path == "/api/2.0/mlflow/runs/get"
    assert get.values("run_id") == ["a", "b"]
    assert get.values("run_uuid") == ["c"]
    post = MlflowCall.build("POST", "/api/2.0/mlflow/runs/log-metric", b"run_id=ignored")
    post.parse_body(json.dumps({"runId": "r1", "key": "m"}).encode())
    assert post.values("run_id") == ["r1"]
    assert post.value("key") == "m"
    assert post.values("run_id", source="query") == ["ignored"]


def test_double_encoded_bodies_from_old_clients_are_read() -> None:
    call = MlflowCall.build("POST", "/api/2.0/mlflow/runs/create", b"")
    call.parse_body(json.dumps(json.dumps({"experiment_id": "7"})).encode())
    assert call.value("experiment_id") == "7"


def test_a_body_that_is_not_json_is_refused_in_mlflows_shape() -> None:
    call = MlflowCall.build("POST", "/api/2.0/mlflow/runs/create", b"")
    with pytest.raises(MlflowDenied) as denied:
        call.parse_body(b"{not json")
    assert denied.value.status == 400
    assert denied.value.error_code == "MALFORMED_REQUEST"


@pytest.mark.parametrize(
    ("method", "path", "action", "write"),
    [
        ("POST", "/api/2.0/mlflow/runs/search", "runs.search", False),
        ("POST", "/api/2.0/mlflow/experiments/search", "experiments.search", False),
        ("POST", "/api/2.0/mlflow/runs/log-batch", "runs.log_batch", True),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/x.txt", "artifacts.upload", True),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/x.txt", "artifacts.download", False),
        ("POST", "/api/2.0/mlflow/logged-models/search", "logged_models.search", False),
        ("PATCH", "/api/2.0/mlflow/logged-models/m-123", "logged_models.finalize", True),
        ("DELETE", "/api/2.0/mlflow/logged-models/m-123/tags/k", "logged_models.delete_tag", True),
        ("POST", "/api/2.0/mlflow/model-versions/create", "model_versions.create", True),
        ("GET", "/api/2.0/mlflow/registered-models/alias", "registered_models.get_alias", False),
        ("DELETE", "/api/2.0/mlflow/registered-models/alias", "registered_models.set_alias", True),
        ("POST", "/graphql", "graphql.query", False),
        ("GET", "/static-files/js/main.js", "ui.read", False),
        ("GET", "/", "ui.read", False),
    ],
)
def test_endpoints_are_classified_by_endpoint_not_method(method: str, path: str, action: str, write: bool) -> None:
    matched = RULES.match(method, path)
    assert matched is not None
    rule, _ = matched
    assert (rule.action, rule.write) == (action, write)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/2.0/mlflow/webhooks"),
        ("POST", "/api/3.0/mlflow/gateway/secrets/create"),
        ("POST", "/api/3.0/mlflow/workspaces"),
        ("POST", "/v1/traces"),
        ("GET", "/gateway/some-endpoint/mlflow/invocations"),
        ("POST", "/api/3.0/mlflow/traces"),
        ("POST", "/"),
    ],
)
def test_everything_else_is_unmatched_hence_for_platform_admins(method: str, path: str) -> None:
    assert RULES.match(method, path) is None


def test_path_params_are_extracted() -> None:
    matched = RULES.match("GET", "/api/2.0/mlflow-artifacts/artifacts/3/r/artifacts/a b.txt")
    assert matched is not None
    assert matched[1] == {"path": "3/r/artifacts/a b.txt"}


def test_full_path_is_restored_from_raw_path() -> None:
    scope = {
        "raw_path": b"/mlflow/api/2.0/mlflow-artifacts/artifacts/1/a%20b.txt",
        "path": "/api/2.0/x/",
        "root_path": "",
    }
    assert _full_path(scope) == "/mlflow/api/2.0/mlflow-artifacts/artifacts/1/a b.txt"
    assert _full_path({"path": "/api/2.0/mlflow/runs/get/", "root_path": ""}) == "/mlflow/api/2.0/mlflow/runs/get"
    assert _full_path({"path": "/", "root_path": ""}) == "/mlflow/"


def test_lru_cache_evicts_and_expires() -> None:
    cache: LruCache[str, str] = LruCache(2)
    cache.put("a", "1")
    cache.put("b", "2")
    assert cache.get("a") == "1"
    cache.put("c", "3")
    assert cache.get("b") is None
    assert cache.get("a") == "1"
    expiring: LruCache[str, str] = LruCache(2, ttl_seconds=0.0)
    expiring.put("a", "1")
    assert expiring.get("a") is None
