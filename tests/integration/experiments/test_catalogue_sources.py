"""Catalogue versions point only at their own project's MLflow objects: a source run, a `runs:/`, `models:/` or
`mlflow-artifacts:/` URI, or a location in the platform's object store that belongs to another project (or to
no one) is refused with 422 and registers nothing."""

from __future__ import annotations

from typing import Any

from mlplatform.kernel.db import Database
from mlplatform.settings import Settings
from tests.integration.experiments.conftest import (
    Client,
    Members,
    call,
    create_experiment,
    create_run,
)
from tests.support.factories import grant_in, unique_name


async def _registered_model(client: Client, members: Members, run_id: str) -> None:
    for path, body in (
        ("registered-models/create", {"name": f"{members.project}.m"}),
        (
            "model-versions/create",
            {"name": f"{members.project}.m", "source": f"runs:/{run_id}/model", "run_id": run_id},
        ),
    ):
        response = await call(client, "POST", path, members.contributor, json=body)
        assert response.status_code == 200, response.text


async def test_a_version_cannot_point_at_another_projects_mlflow_objects(
    test_database: Database, mlflow_client: Client, members: Members, mlflow_settings: Settings
) -> None:
    # Another project with an experiment, a run and a registered model version.
    theirs = Members(unique_name("p"), {}, {}, {})
    theirs.contributor = await grant_in(test_database, project=theirs.project, role="contributor")
    their_experiment = await create_experiment(mlflow_client, theirs)
    their_run = await create_run(mlflow_client, theirs.contributor, their_experiment)
    await _registered_model(mlflow_client, theirs, their_run)
    # Ours: the caller is a contributor here and nowhere else.
    our_experiment = await create_experiment(mlflow_client, members)
    our_run = await create_run(mlflow_client, members.contributor, our_experiment)
    await _registered_model(mlflow_client, members, our_run)
    base = f"/api/v1/projects/{members.project}/models"
    made = await mlflow_client.post(base, headers=members.contributor, json={"name": "scorer"})
    assert made.status_code == 201, made.text
    store = mlflow_settings.resolved_storage_url  # s3://<bucket>/platform

    refused: list[dict[str, Any]] = [
        {"model_uri": f"runs:/{our_run}/model", "source_run_id": their_run},
        {"model_uri": f"runs:/{our_run}/model", "source_run_id": "0" * 32},
        {"model_uri": f"runs:/{their_run}/model"},
        {"model_uri": f"models:/{theirs.project}.m/1"},
        {"model_uri": f"models:/{theirs.project}.m@champion"},
        {"model_uri": f"mlflow-artifacts:/{their_experiment}/{their_run}/artifacts/model"},
        {"model_uri": f"mlflow-artifacts:/{our_experiment}/../{their_experiment}/x"},
        {"model_uri": f"{store}/mlflow/{their_experiment}/{their_run}/artifacts/model"},
        {"model_uri": f"{store}/features/{theirs.project}/data.parquet"},
        {"model_uri": f"file://{mlflow_settings.data_dir.resolve()}/mlflow.db"},
    ]
    for body in refused:
        answer = await mlflow_client.post(f"{base}/scorer/versions", headers=members.contributor, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert f"project {members.project!r}" in answer.json()["detail"]
    listed = await mlflow_client.get(f"{base}/scorer/versions", headers=members.contributor)
    assert listed.json()["items"] == []

    accepted: list[dict[str, Any]] = [
        {"model_uri": f"runs:/{our_run}/model", "source_run_id": our_run},
        {"model_uri": f"models:/{members.project}.m/1", "source_run_id": our_run, "mlflow_version": "1"},
        {"model_uri": f"mlflow-artifacts:/{our_experiment}/{our_run}/artifacts/model"},
        {"model_uri": f"{store}/mlflow/{our_experiment}/{our_run}/artifacts/model"},
        {"model_uri": "s3://somebody-elses-bucket/models/scorer"},
    ]
    for body in accepted:
        answer = await mlflow_client.post(f"{base}/scorer/versions", headers=members.contributor, json=body)
        assert answer.status_code == 201, (body, answer.text)
