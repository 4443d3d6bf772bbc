"""Production through `/mlflow` (the `Production` stage, a `production`/`prod` alias) follows the catalogue's
production policy: with approvals or validations required, only the version the catalogue has put in
production may be marked so in MLflow; everything else is refused (403, naming the catalogue's route) and
changes nothing."""

from __future__ import annotations

from typing import Any

from mlplatform.kernel.db import Database
from tests.integration.experiments.conftest import (
    Client,
    Members,
    call,
    create_experiment,
    create_run,
    mlflow_error,
)
from tests.support.factories import grant_in
from tests.support.wait import wait_until_async


async def _mlflow_version(client: Client, members: Members, model: str, run_id: str) -> str:
    created = await call(
        client,
        "POST",
        "model-versions/create",
        members.contributor,
        json={"name": model, "source": f"runs:/{run_id}/model", "run_id": run_id},
    )
    assert created.status_code == 200, created.text
    return str(created.json()["model_version"]["version"])


async def _catalogue_version(client: Client, members: Members, model: str, mlflow_version: str) -> int:
    """The catalogue version the sync registered from this MLflow version (delivered through the outbox)."""
    listed: Any = None

    async def registered() -> int | None:
        nonlocal listed
        listed = await client.get(
            f"/api/v1/projects/{members.project}/models/{model}/versions", headers=members.contributor
        )
        for item in listed.json().get("items", []) if listed.status_code == 200 else []:
            if item["mlflow_version"] == mlflow_version:
                return int(item["version"])
        return None

    return await wait_until_async(
        registered, timeout=30, interval=0.1, message=lambda: f"catalogue version: {listed.text}"
    )


async def _mlflow_state(client: Client, members: Members, name: str) -> dict[str, Any]:
    model = await call(client, "GET", f"registered-models/get?name={name}", members.contributor)
    versions = await call(client, "GET", f"model-versions/search?filter=name%3D%27{name}%27", members.contributor)
    return {
        "aliases": model.json()["registered_model"].get("aliases", []),
        "stages": {v["version"]: v["current_stage"] for v in versions.json()["model_versions"]},
    }


async def test_production_in_mlflow_goes_through_the_catalogues_approval(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    lead = await grant_in(test_database, project=members.project, role="maintainer")
    other_lead = await grant_in(test_database, project=members.project, role="maintainer")
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    name = f"{members.project}.scorer"
    created = await call(mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": name})
    assert created.status_code == 200, created.text
    first = await _mlflow_version(mlflow_client, members, name, run_id)
    catalogued = await _catalogue_version(mlflow_client, members, "scorer", first)
    base = f"/api/v1/projects/{members.project}/models/scorer"
    policy = await mlflow_client.patch(base, headers=lead, json={"approval_policy": {"production": 1}})
    assert policy.status_code == 200, policy.text
    before = await _mlflow_state(mlflow_client, members, name)

    attempts: list[tuple[str, dict[str, Any]]] = [
        ("model-versions/transition-stage", {"name": name, "version": first, "stage": "Production"}),
        ("model-versions/transition-stage", {"name": name, "version": first, "stage": "production"}),
        ("registered-models/alias", {"name": name, "alias": "production", "version": first}),
        ("registered-models/alias", {"name": name, "alias": "Prod", "version": first}),
    ]
    for caller in (members.contributor, lead):
        for path, body in attempts:
            refused = await call(mlflow_client, "POST", path, caller, json=body)
            error = mlflow_error(refused, 403, "PERMISSION_DENIED")
            assert f"{base}/versions/{catalogued}/transitions" in error["message"], error
            assert "1 approval" in error["message"]
    assert await _mlflow_state(mlflow_client, members, name) == before
    # Other stages and aliases are MLflow's business.
    staged = await call(
        mlflow_client,
        "POST",
        "model-versions/transition-stage",
        members.contributor,
        json={"name": name, "version": first, "stage": "Staging"},
    )
    assert staged.status_code == 200, staged.text
    champion = {"name": name, "alias": "champion", "version": first}
    aliased = await call(mlflow_client, "POST", "registered-models/alias", members.contributor, json=champion)
    assert aliased.status_code == 200, aliased.text

    # Through the catalogue: validated, staging, production requested, approved by another maintainer.
    for stage in ("validated", "staging", "production"):
        moved = await mlflow_client.post(
            f"{base}/versions/{catalogued}/transitions", headers=members.contributor, json={"to_stage": stage}
        )
        assert moved.status_code in {200, 202}, moved.text
    approved = await mlflow_client.post(
        f"{base}/versions/{catalogued}/approvals", headers=other_lead, json={"decision": "approve"}
    )
    assert approved.status_code in {200, 201}, approved.text
    assert approved.json()["version"]["stage"] == "production"

    # Now MLflow may follow the catalogue for that version, and only for it.
    for path, body in attempts[::2]:
        allowed = await call(mlflow_client, "POST", path, members.contributor, json=body)
        assert allowed.status_code == 200, allowed.text
    second = await _mlflow_version(mlflow_client, members, name, run_id)
    await _catalogue_version(mlflow_client, members, "scorer", second)
    moved_on = await call(
        mlflow_client,
        "POST",
        "registered-models/alias",
        members.contributor,
        json={"name": name, "alias": "production", "version": second},
    )
    mlflow_error(moved_on, 403, "PERMISSION_DENIED")


async def test_without_a_catalogue_policy_mlflow_production_is_unchanged(
    mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    name = f"{members.project}.free"
    created = await call(mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": name})
    assert created.status_code == 200, created.text
    version = await _mlflow_version(mlflow_client, members, name, run_id)
    await _catalogue_version(mlflow_client, members, "free", version)
    for path, body in (
        ("model-versions/transition-stage", {"name": name, "version": version, "stage": "Production"}),
        ("registered-models/alias", {"name": name, "alias": "production", "version": version}),
    ):
        answer = await call(mlflow_client, "POST", path, members.contributor, json=body)
        assert answer.status_code == 200, answer.text
