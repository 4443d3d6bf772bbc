"""MLflow's error answers carry no internals (SQL with bound values, database URLs, storage locations): the
client gets MLflow's own sentence and a request id, the log the whole message under that id. And a model
version's files download whether its source is a `runs:/` URI or a proxied artifact location."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mlplatform.settings import Settings
from tests.integration.experiments.conftest import Client, Members, call, create_experiment, create_run

INTERNALS = ("[SQL", "INSERT INTO", "[parameters", "psycopg", "postgresql", "sqlalchemy", "Background on this error")


def withheld(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("event") == "mlflow_error_withheld"]


async def test_a_database_error_reaches_the_client_as_mlflows_sentence_and_a_request_id(
    mlflow_client: Client, members: Members, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mlplatform.experiments")
    await create_experiment(mlflow_client, members, "twice")
    again = await call(
        mlflow_client, "POST", "experiments/create", members.contributor, json={"name": f"{members.project}/twice"}
    )
    assert again.status_code == 400, again.text
    body = again.json()
    assert body["error_code"] == "RESOURCE_ALREADY_EXISTS"  # the MLflow client still recognises it
    assert body["message"].startswith(f"Experiment(name={members.project}/twice) already exists")
    for internal in INTERNALS:
        assert internal.lower() not in again.text.lower(), again.text
    request_id = again.headers["x-request-id"]
    assert request_id in body["message"]
    (logged,) = withheld(caplog)
    assert logged["request_id"] == request_id
    assert "INSERT INTO experiments" in logged["detail"]


async def _model_version(client: Client, members: Members, source: str, run_id: str) -> str:
    response = await call(
        client,
        "POST",
        "model-versions/create",
        members.contributor,
        json={"name": f"{members.project}.m", "source": source, "run_id": run_id},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["model_version"]["version"])


async def test_model_version_files_download_for_runs_and_proxied_sources_without_leaking_locations(
    mlflow_client: Client, members: Members, mlflow_settings: Settings
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    uploaded = await mlflow_client.put(
        f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/model/MLmodel",
        content=b"flavors: {}\n",
        headers=members.contributor,
    )
    assert uploaded.status_code == 200, uploaded.text
    created = await call(
        mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": f"{members.project}.m"}
    )
    assert created.status_code == 200, created.text
    from_run = await _model_version(mlflow_client, members, f"runs:/{run_id}/model", run_id)
    proxied = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    from_artifacts = await _model_version(mlflow_client, members, proxied, run_id)
    from_version = await _model_version(mlflow_client, members, f"models:/{members.project}.m/{from_run}", run_id)

    for version in (from_run, from_artifacts, from_version):
        params = {"name": f"{members.project}.m", "version": version, "path": "MLmodel"}
        answer = await mlflow_client.get("/mlflow/model-versions/get-artifact", params=params, headers=members.viewer)
        assert "postgresql" not in answer.text, answer.text  # the database URL, named by MLflow's failure
        assert answer.status_code == 200, (version, answer.text)
        assert answer.content == b"flavors: {}\n"

    bucket = mlflow_settings.resolved_storage_url.removeprefix("s3://").split("/", 1)[0]
    for version in (from_run, from_artifacts):
        params = {"name": f"{members.project}.m", "version": version, "path": "missing.txt"}
        answer = await mlflow_client.get("/mlflow/model-versions/get-artifact", params=params, headers=members.viewer)
        assert 400 <= answer.status_code < 600, answer.text
        for internal in (*INTERNALS, bucket, "127.0.0.1:5432"):
            assert internal.lower() not in answer.text.lower(), (version, answer.text)

    escaping = {"name": f"{members.project}.m", "version": from_run, "path": "../../other/file"}
    refused = await mlflow_client.get("/mlflow/model-versions/get-artifact", params=escaping, headers=members.viewer)
    assert refused.status_code == 400, refused.text
    outsider = await mlflow_client.get(
        "/mlflow/model-versions/get-artifact",
        params={"name": f"{members.project}.m", "version": from_run, "path": "MLmodel"},
        headers=members.outsider,
    )
    assert outsider.status_code == 404, outsider.text
