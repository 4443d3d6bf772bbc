"""MLflow across projects: every endpoint MLflow's server declares, called by an outsider and by a viewer with
parameters naming another project's experiment, run, registered model and artifacts.

Whatever the endpoint, an outsider's successful answer never shows the project's objects, and neither an
outsider nor a viewer changes anything of the project (its state is compared before and after). Endpoints are
read from MLflow itself (`mlflow.server.handlers.get_endpoints`), so an MLflow upgrade adding endpoints is
covered too.
"""

from __future__ import annotations

import re
from typing import Any

from tests.integration.experiments.conftest import Client, Members, call, create_experiment, create_run

_VARIABLE = re.compile(r"<(?:(\w+):)?(\w+)>")


def mlflow_endpoints() -> list[tuple[str, str]]:
    from mlflow.server.handlers import get_endpoints

    found = set()
    for path, _, methods in get_endpoints():
        for method in methods:
            if method not in {"HEAD", "OPTIONS"}:
                found.add((method, path))
    return sorted(found)


async def project_state(client: Client, members: Members, experiment_id: str, run_id: str) -> dict[str, Any]:
    """What the project holds, read as its contributor: any change by another caller shows here."""
    reads = {
        "experiment": f"experiments/get?experiment_id={experiment_id}",
        "run": f"runs/get?run_id={run_id}",
        "artifacts": f"artifacts/list?run_id={run_id}",
        "model": f"registered-models/get?name={members.project}.m",
        "versions": f"model-versions/search?filter=name%3D%27{members.project}.m%27",
    }
    state: dict[str, Any] = {}
    for name, path in reads.items():
        response = await call(client, "GET", path, members.contributor)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        for volatile in ("last_update_time", "last_updated_timestamp"):
            _drop(body, volatile)
        state[name] = body
    return state


def _drop(value: Any, key: str) -> None:
    if isinstance(value, dict):
        value.pop(key, None)
        for item in value.values():
            _drop(item, key)
    elif isinstance(value, list):
        for item in value:
            _drop(item, key)


async def seed(client: Client, members: Members) -> tuple[str, str]:
    experiment_id = await create_experiment(client, members)
    run_id = await create_run(client, members.contributor, experiment_id)
    contributor = members.contributor
    for path, body in (
        ("runs/log-metric", {"run_id": run_id, "key": "auc", "value": 0.9, "timestamp": 1, "step": 0}),
        ("runs/log-parameter", {"run_id": run_id, "key": "depth", "value": "3"}),
        ("runs/set-tag", {"run_id": run_id, "key": "team", "value": "risk"}),
        ("registered-models/create", {"name": f"{members.project}.m"}),
        (
            "model-versions/create",
            {"name": f"{members.project}.m", "source": f"runs:/{run_id}/model", "run_id": run_id},
        ),
    ):
        response = await call(client, "POST", path, contributor, json=body)
        assert response.status_code == 200, (path, response.text)
    upload = await client.put(
        f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/model/f.txt",
        content=b"secret",
        headers=contributor,
    )
    assert upload.status_code == 200, upload.text
    return experiment_id, run_id


def request_for(
    method: str, path: str, members: Members, experiment_id: str, run_id: str
) -> tuple[str, dict[str, Any]]:
    """The endpoint's URL (MLflow's path variables filled) and request options naming the project's objects."""
    project = members.project

    def variable(match: re.Match[str]) -> str:
        converter, name = match.groups()
        if converter == "path":
            return f"{experiment_id}/{run_id}/artifacts/model/f.txt"
        return {"experiment_id": experiment_id, "run_id": run_id}.get(name, run_id)

    url = "/mlflow" + _VARIABLE.sub(variable, path)
    params = {
        "experiment_id": experiment_id,
        "experiment_ids": [experiment_id],
        "experiment_name": f"{project}/exp",
        "run_id": run_id,
        "run_uuid": run_id,
        "run_ids": [run_id],
        "name": f"{project}.m",
        "new_name": f"{project}.renamed",
        "version": "1",
        "stage": "Archived",
        "alias": "champion",
        "key": "team",
        "value": "changed",
        "path": "model",
        "description": "changed",
        "filter": f"name='{project}.m'",
        "filter_string": f"name='{project}.m'",
        "metric_key": "auc",
        "tags": [{"key": "team", "value": "changed"}],
        "metrics": [{"key": "auc", "value": 0.1, "timestamp": 2, "step": 1}],
        "params": [{"key": "depth", "value": "9"}],
        "status": "KILLED",
        "lifecycle_stage": "deleted",
    }
    if method == "GET":
        return url, {
            "params": {
                k: v if isinstance(v, str) else str(v)
                for k, v in params.items()
                if k not in {"tags", "metrics", "params"}
            }
        }
    return url, {"json": params}


async def test_no_caller_reaches_another_projects_mlflow_objects_through_any_endpoint(
    mlflow_client: Client, members: Members
) -> None:
    experiment_id, run_id = await seed(mlflow_client, members)
    before = await project_state(mlflow_client, members, experiment_id, run_id)
    endpoints = [(m, p) for m, p in mlflow_endpoints() if "/mlflow" in p]
    assert len(endpoints) > 100
    shown: list[str] = []
    answered: dict[str, int] = {"outsider": 0, "viewer": 0}
    secrets = (members.project, experiment_id, run_id)
    for caller, headers in (("outsider", members.outsider), ("viewer", members.viewer)):
        for method, path in endpoints:
            url, options = request_for(method, path, members, experiment_id, run_id)
            response = await mlflow_client.request(method, url, headers=headers, **options)
            assert response.status_code < 500 or response.status_code in {501, 503}, (
                caller,
                method,
                url,
                response.text,
            )
            if 200 <= response.status_code < 300:
                answered[caller] += 1
            if caller == "outsider" and 200 <= response.status_code < 300:
                body = response.text
                if any(secret in body for secret in secrets):
                    shown.append(f"{method} {path}: {response.status_code} {body[:200]}")
    assert not shown, "\n".join(shown)
    # The requests are well-formed: the project's viewer reads its objects through many of the same calls.
    assert answered["viewer"] >= 25, answered
    after = await project_state(mlflow_client, members, experiment_id, run_id)
    assert after == before
    download = await mlflow_client.get(
        f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/model/f.txt",
        headers=members.contributor,
    )
    assert download.content == b"secret"
