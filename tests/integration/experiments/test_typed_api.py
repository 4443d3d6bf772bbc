"""The typed platform API over MLflow: experiments, runs, metric history, links to the catalogue."""

from __future__ import annotations

from typing import Any

from mlplatform.kernel.db import Database
from mlplatform.modules.catalogue.api import register_external_version
from tests.integration.experiments.conftest import (
    Client,
    Members,
    call,
    create_experiment,
    create_run,
)
from tests.support.factories import grant_in, unique_name
from tests.support.problems import problem


def v1(members: Members, path: str) -> str:
    return f"/api/v1/projects/{members.project}/{path}"


async def log_metrics(client: Client, members: Members, run_id: str, key: str, values: list[float]) -> None:
    body: dict[str, Any] = {
        "run_id": run_id,
        "metrics": [
            {"key": key, "value": v, "timestamp": 1_700_000_000_000 + i, "step": i} for i, v in enumerate(values)
        ],
    }
    response = await call(client, "POST", "runs/log-batch", members.contributor, json=body)
    assert response.status_code == 200, response.text


async def test_experiments_of_the_project_only(mlflow_client: Client, members: Members) -> None:
    first = await create_experiment(mlflow_client, members, "alpha")
    second = await create_experiment(mlflow_client, members, "beta")
    listed = await mlflow_client.get(v1(members, "experiments"), headers=members.viewer)
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()["items"]] == [second, first]
    assert all(e["project"] == members.project for e in listed.json()["items"])

    page = await mlflow_client.get(v1(members, "experiments"), params={"limit": 1}, headers=members.viewer)
    assert [e["id"] for e in page.json()["items"]] == [second]
    rest = await mlflow_client.get(
        v1(members, "experiments"), params={"limit": 1, "cursor": page.json()["next_cursor"]}, headers=members.viewer
    )
    assert rest.status_code == 200, rest.text
    assert [e["id"] for e in rest.json()["items"]] == [first]

    searched = await mlflow_client.get(v1(members, "experiments"), params={"q": "alph"}, headers=members.viewer)
    assert [e["name"] for e in searched.json()["items"]] == [f"{members.project}/alpha"]
    one = await mlflow_client.get(v1(members, f"experiments/{first}"), headers=members.viewer)
    assert one.json()["name"] == f"{members.project}/alpha"

    problem(await mlflow_client.get(v1(members, "experiments"), headers=members.outsider), 404)
    problem(await mlflow_client.get(v1(members, "experiments/0"), headers=members.viewer), 404)
    problem(await mlflow_client.get(v1(members, "experiments"), params={"cursor": "junk"}, headers=members.viewer), 422)


async def test_runs_detail_and_metric_history(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    good = await create_run(mlflow_client, members.contributor, experiment_id)
    bad = await create_run(mlflow_client, members.contributor, experiment_id)
    await log_metrics(mlflow_client, members, good, "train/loss", [0.9, 0.5, 0.2])
    await log_metrics(mlflow_client, members, good, "auc", [0.95])
    await log_metrics(mlflow_client, members, bad, "auc", [0.6])

    runs = await mlflow_client.get(
        v1(members, f"experiments/{experiment_id}/runs"),
        params={"filter": "metrics.auc > 0.9", "order_by": "metrics.auc DESC"},
        headers=members.viewer,
    )
    assert runs.status_code == 200, runs.text
    assert [r["id"] for r in runs.json()["items"]] == [good]
    assert runs.json()["items"][0]["metrics"] == {"train/loss": 0.2, "auc": 0.95}
    invalid = await mlflow_client.get(
        v1(members, f"experiments/{experiment_id}/runs"), params={"filter": "metrics.auc >>> 1"}, headers=members.viewer
    )
    problem(invalid, 422)
    paged = await mlflow_client.get(
        v1(members, f"experiments/{experiment_id}/runs"), params={"limit": 1}, headers=members.viewer
    )
    assert len(paged.json()["items"]) == 1
    assert paged.json()["next_cursor"]

    detail = await mlflow_client.get(v1(members, f"runs/{good}"), headers=members.viewer)
    assert detail.status_code == 200, detail.text
    assert detail.json()["experiment_id"] == experiment_id
    assert detail.json()["links"] == []

    history = await mlflow_client.get(v1(members, f"runs/{good}/metrics/train/loss"), headers=members.viewer)
    assert history.status_code == 200, history.text
    assert [(p["step"], p["value"]) for p in history.json()["items"]] == [(0, 0.9), (1, 0.5), (2, 0.2)]
    first = await mlflow_client.get(
        v1(members, f"runs/{good}/metrics/train/loss"), params={"limit": 2}, headers=members.viewer
    )
    assert len(first.json()["items"]) == 2
    assert first.json()["next_cursor"]
    rest = await mlflow_client.get(
        v1(members, f"runs/{good}/metrics/train/loss"),
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=members.viewer,
    )
    assert rest.status_code == 200, rest.text
    assert [p["step"] for p in rest.json()["items"]] == [2]

    problem(await mlflow_client.get(v1(members, f"runs/{good}"), headers=members.outsider), 404)
    problem(await mlflow_client.get(v1(members, "runs/nope"), headers=members.viewer), 404)


async def test_linking_a_run_to_a_catalogue_version(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    async with test_database.transaction() as session:
        ref = await register_external_version(
            session,
            project=members.project,
            model_name="ranker",
            source_run_id=run_id,
            model_uri="s3://elsewhere/ranker",
            mlflow_version=None,
            metrics={},
            params={},
            actor="user:test",
        )
    body = {"model": "ranker", "version": ref.version, "note": "trained here"}
    denied = await mlflow_client.post(v1(members, f"runs/{run_id}/links"), json=body, headers=members.viewer)
    problem(denied, 403)
    created = await mlflow_client.post(v1(members, f"runs/{run_id}/links"), json=body, headers=members.contributor)
    assert created.status_code == 201, created.text
    link = created.json()
    assert (link["model"], link["version"], link["catalogue_version_id"]) == (
        "ranker",
        ref.version,
        str(ref.version_id),
    )
    again = await mlflow_client.post(v1(members, f"runs/{run_id}/links"), json=body, headers=members.contributor)
    assert again.status_code == 200
    assert again.json()["id"] == link["id"]

    detail = await mlflow_client.get(v1(members, f"runs/{run_id}"), headers=members.viewer)
    assert [item["id"] for item in detail.json()["links"]] == [link["id"]]
    missing = await mlflow_client.post(
        v1(members, f"runs/{run_id}/links"), json={"model": "ranker", "version": 99}, headers=members.contributor
    )
    problem(missing, 404)
    bad_name = await mlflow_client.post(
        v1(members, f"runs/{run_id}/links"), json={"model": "no spaces", "version": 1}, headers=members.contributor
    )
    assert bad_name.status_code in {400, 422}

    removed = await mlflow_client.delete(v1(members, f"runs/{run_id}/links/{link['id']}"), headers=members.contributor)
    assert removed.status_code == 204
    listed = await mlflow_client.get(v1(members, f"runs/{run_id}/links"), headers=members.viewer)
    assert listed.json() == []


async def test_another_projects_run_is_not_found_without_naming_its_experiment(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members, "hidden-experiment")
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    other = unique_name("p")
    stranger = await grant_in(test_database, project=other, role="contributor")
    for method, path, body in (
        ("GET", f"runs/{run_id}", None),
        ("GET", f"runs/{run_id}/metrics/auc", None),
        ("GET", f"runs/{run_id}/links", None),
        ("POST", f"runs/{run_id}/links", {"model": "ranker", "version": 1}),
    ):
        answer = await mlflow_client.request(method, f"/api/v1/projects/{other}/{path}", json=body, headers=stranger)
        found = problem(answer, 404)
        assert "experiment" not in found["detail"].lower(), found
        assert f"'{experiment_id}'" not in answer.text
    # MLflow's own API, asked for the run alone, does not name the experiment either.
    for path in (f"runs/get?run_id={run_id}", f"metrics/get-history?run_id={run_id}&metric_key=auc"):
        answer = await call(mlflow_client, "GET", path, stranger)
        assert answer.status_code == 404, answer.text
        assert "experiment" not in answer.json()["message"].lower(), answer.text
