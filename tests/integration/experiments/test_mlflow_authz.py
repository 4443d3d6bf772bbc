"""`/mlflow` behind the gateway: authentication, project roles per MLflow endpoint, search filtering,
naming rules, MLflow's error shape, and the audit log."""

from __future__ import annotations

import uuid

from mlplatform.kernel.db import Database
from tests.integration.experiments.conftest import (
    API,
    Client,
    Members,
    call,
    create_experiment,
    create_run,
    mlflow_error,
)
from tests.support.factories import grant_in, unique_name


async def test_no_credentials_is_401_everywhere_under_mlflow(mlflow_client: Client) -> None:
    for method, path in (
        ("GET", "/mlflow/"),
        ("GET", f"{API}/experiments/search"),
        ("POST", f"{API}/runs/search"),
        ("PUT", "/mlflow/api/2.0/mlflow-artifacts/artifacts/1/x/artifacts/a.txt"),
    ):
        response = await mlflow_client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
    bad = await mlflow_client.get(f"{API}/experiments/search", headers={"Authorization": "Bearer mlp_nope_nope"})
    assert bad.status_code == 401


async def test_contributor_creates_experiment_tagged_with_its_project(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members, "baseline")
    got = await call(mlflow_client, "GET", f"experiments/get?experiment_id={experiment_id}", members.viewer)
    assert got.status_code == 200, got.text
    experiment = got.json()["experiment"]
    assert experiment["name"] == f"{members.project}/baseline"
    assert {"key": "mlplatform.project", "value": members.project} in experiment["tags"]
    assert experiment["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"


async def test_experiment_names_must_name_a_project_the_caller_writes_to(
    mlflow_client: Client, members: Members
) -> None:
    no_prefix = await call(mlflow_client, "POST", "experiments/create", members.contributor, json={"name": "loose"})
    assert "<project>/loose" in mlflow_error(no_prefix, 400, "INVALID_PARAMETER_VALUE")["message"]
    elsewhere = await call(
        mlflow_client, "POST", "experiments/create", members.contributor, json={"name": f"{unique_name('p')}/x"}
    )
    mlflow_error(elsewhere, 404, "RESOURCE_DOES_NOT_EXIST")
    as_viewer = await call(
        mlflow_client, "POST", "experiments/create", members.viewer, json={"name": f"{members.project}/v"}
    )
    mlflow_error(as_viewer, 403, "PERMISSION_DENIED")
    wrong_tag = await call(
        mlflow_client,
        "POST",
        "experiments/create",
        members.contributor,
        json={"name": f"{members.project}/t", "tags": [{"key": "mlplatform.project", "value": "other"}]},
    )
    mlflow_error(wrong_tag, 400, "INVALID_PARAMETER_VALUE")
    own_location = await call(
        mlflow_client,
        "POST",
        "experiments/create",
        members.contributor,
        json={"name": f"{members.project}/loc", "artifact_location": "mlflow-artifacts:/1"},
    )
    mlflow_error(own_location, 400, "INVALID_PARAMETER_VALUE")


async def test_viewer_reads_but_cannot_write_by_endpoint_not_method(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    logged = await call(
        mlflow_client,
        "POST",
        "runs/log-metric",
        members.contributor,
        json={"run_id": run_id, "key": "auc", "value": 0.9, "timestamp": 1, "step": 0},
    )
    assert logged.status_code == 200, logged.text

    searched = await call(
        mlflow_client, "POST", "runs/search", members.viewer, json={"experiment_ids": [experiment_id]}
    )
    assert searched.status_code == 200, searched.text
    assert [r["info"]["run_id"] for r in searched.json()["runs"]] == [run_id]
    got = await call(mlflow_client, "GET", f"runs/get?run_id={run_id}", members.viewer)
    assert got.json()["run"]["data"]["metrics"][0]["key"] == "auc"
    history = await call(mlflow_client, "GET", f"metrics/get-history?run_id={run_id}&metric_key=auc", members.viewer)
    assert history.status_code == 200

    for path, body in (
        ("runs/create", {"experiment_id": experiment_id}),
        ("runs/log-metric", {"run_id": run_id, "key": "auc", "value": 1.0, "timestamp": 2, "step": 1}),
        ("runs/log-batch", {"run_id": run_id, "metrics": [], "params": [{"key": "a", "value": "b"}]}),
        ("runs/update", {"run_id": run_id, "status": "FINISHED"}),
        ("runs/delete", {"run_id": run_id}),
        ("experiments/delete", {"experiment_id": experiment_id}),
    ):
        denied = await call(mlflow_client, "POST", path, members.viewer, json=body)
        mlflow_error(denied, 403, "PERMISSION_DENIED")
    upload = await mlflow_client.put(
        f"/mlflow/api/2.0/mlflow-artifacts/artifacts/{experiment_id}/{run_id}/artifacts/a.txt",
        content=b"data",
        headers=members.viewer,
    )
    mlflow_error(upload, 403, "PERMISSION_DENIED")


async def test_outsiders_see_nothing_of_another_project(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    for method, path, kwargs in (
        ("GET", f"experiments/get?experiment_id={experiment_id}", {}),
        ("GET", f"experiments/get-by-name?experiment_name={members.project}/exp", {}),
        ("GET", f"runs/get?run_id={run_id}", {}),
        ("POST", "runs/search", {"json": {"experiment_ids": [experiment_id]}}),
        ("GET", f"artifacts/list?run_id={run_id}", {}),
        ("GET", f"/mlflow/api/2.0/mlflow-artifacts/artifacts?path={experiment_id}/{run_id}/artifacts", {}),
        ("POST", "runs/log-metric", {"json": {"run_id": run_id, "key": "k", "value": 1, "timestamp": 1}}),
    ):
        response = await call(mlflow_client, method, path, members.outsider, **kwargs)
        mlflow_error(response, 404, "RESOURCE_DOES_NOT_EXIST")
    searched = await call(mlflow_client, "POST", "experiments/search", members.outsider, json={"max_results": 1000})
    assert searched.status_code == 200
    assert all(not e["name"].startswith(f"{members.project}/") for e in searched.json().get("experiments", []))
    root = await call(mlflow_client, "GET", "/mlflow/api/2.0/mlflow-artifacts/artifacts", members.outsider)
    mlflow_error(root, 400, "INVALID_PARAMETER_VALUE")


async def test_search_shows_exactly_the_projects_a_caller_belongs_to(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    other = unique_name("p")
    other_admin = await grant_in(test_database, project=other, role="contributor")
    mine = await create_experiment(mlflow_client, members, "mine")
    response = await call(mlflow_client, "POST", "experiments/create", other_admin, json={"name": f"{other}/theirs"})
    theirs = response.json()["experiment_id"]

    name = f"both-{uuid.uuid4().hex[:6]}"
    both = await grant_in(test_database, project=members.project, role="viewer", name=name)
    both = await grant_in(test_database, project=other, role="viewer", name=name)
    for method, kwargs in (("POST", {"json": {"max_results": 1000}}), ("GET", {"params": {"max_results": 1000}})):
        listed = await call(mlflow_client, method, "experiments/search", both, **kwargs)
        ids = {e["experiment_id"] for e in listed.json()["experiments"]}
        assert {mine, theirs} <= ids
        tags = {t["value"] for e in listed.json()["experiments"] for t in e["tags"] if t["key"] == "mlplatform.project"}
        assert tags <= {members.project, other}
    single = await call(mlflow_client, "POST", "experiments/search", members.viewer, json={"max_results": 1000})
    assert {e["experiment_id"] for e in single.json()["experiments"]} == {mine}
    nobody = await grant_in(test_database)
    empty = await call(mlflow_client, "POST", "experiments/search", nobody, json={})
    assert empty.status_code == 200
    assert empty.json() == {"experiments": []}


async def test_project_tag_and_prefix_cannot_be_changed(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    retag = await call(
        mlflow_client,
        "POST",
        "experiments/set-experiment-tag",
        members.contributor,
        json={"experiment_id": experiment_id, "key": "mlplatform.project", "value": "elsewhere"},
    )
    mlflow_error(retag, 403, "PERMISSION_DENIED")
    untag = await call(
        mlflow_client,
        "POST",
        "experiments/delete-experiment-tag",
        members.contributor,
        json={"experiment_id": experiment_id, "key": "mlplatform.project"},
    )
    mlflow_error(untag, 403, "PERMISSION_DENIED")
    moved = await call(
        mlflow_client,
        "POST",
        "experiments/update",
        members.contributor,
        json={"experiment_id": experiment_id, "new_name": "other/renamed"},
    )
    mlflow_error(moved, 400, "INVALID_PARAMETER_VALUE")
    renamed = await call(
        mlflow_client,
        "POST",
        "experiments/update",
        members.contributor,
        json={"experiment_id": experiment_id, "new_name": f"{members.project}/renamed"},
    )
    assert renamed.status_code == 200, renamed.text


async def test_runs_need_an_experiment_of_a_project(mlflow_client: Client, members: Members) -> None:
    default = await call(mlflow_client, "POST", "runs/create", members.contributor, json={})
    assert "set_experiment" in mlflow_error(default, 400, "INVALID_PARAMETER_VALUE")["message"]


async def test_registered_models_follow_the_project_prefix(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    model = f"{members.project}.classifier"
    created = await call(mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": model})
    assert created.status_code == 200, created.text
    assert {"key": "mlplatform.project", "value": members.project} in created.json()["registered_model"]["tags"]
    loose = await call(mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": "loose"})
    mlflow_error(loose, 400, "INVALID_PARAMETER_VALUE")
    viewer_create = await call(
        mlflow_client, "POST", "registered-models/create", members.viewer, json={"name": f"{members.project}.v"}
    )
    mlflow_error(viewer_create, 403, "PERMISSION_DENIED")

    source = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    version = await call(
        mlflow_client,
        "POST",
        "model-versions/create",
        members.contributor,
        json={"name": model, "source": source, "run_id": run_id},
    )
    assert version.status_code == 200, version.text
    viewer_version = await call(
        mlflow_client, "POST", "model-versions/create", members.viewer, json={"name": model, "source": source}
    )
    mlflow_error(viewer_version, 403, "PERMISSION_DENIED")

    listed = await call(mlflow_client, "GET", "registered-models/search?max_results=1000", members.viewer)
    assert [m["name"] for m in listed.json()["registered_models"]] == [model]
    hidden = await call(mlflow_client, "GET", "registered-models/search?max_results=1000", members.outsider)
    assert model not in [m["name"] for m in hidden.json().get("registered_models", [])]
    versions = await call(mlflow_client, "GET", f"model-versions/search?filter=name='{model}'", members.outsider)
    assert versions.json().get("model_versions", []) == []
    mlflow_error(
        await call(mlflow_client, "GET", f"registered-models/get?name={model}", members.outsider),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    renamed = await call(
        mlflow_client, "POST", "registered-models/rename", members.contributor, json={"name": model, "new_name": "x.y"}
    )
    mlflow_error(renamed, 400, "INVALID_PARAMETER_VALUE")


async def test_model_versions_cannot_point_into_another_project(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    other = unique_name("p")
    other_contributor = await grant_in(test_database, project=other, role="contributor")
    response = await call(
        mlflow_client, "POST", "experiments/create", other_contributor, json={"name": f"{other}/secret"}
    )
    secret_experiment = response.json()["experiment_id"]
    secret_run = await create_run(mlflow_client, other_contributor, secret_experiment)
    model = f"{members.project}.thief"
    await call(mlflow_client, "POST", "registered-models/create", members.contributor, json={"name": model})
    for body in (
        {"name": model, "source": f"mlflow-artifacts:/{secret_experiment}/{secret_run}/artifacts/m"},
        {"name": model, "source": f"runs:/{secret_run}/model"},
        {"name": model, "source": "mlflow-artifacts:/1/x", "run_id": secret_run},
    ):
        denied = await call(mlflow_client, "POST", "model-versions/create", members.contributor, json=body)
        mlflow_error(denied, 404, "RESOURCE_DOES_NOT_EXIST")
    foreign_scheme = await call(
        mlflow_client,
        "POST",
        "model-versions/create",
        members.contributor,
        json={"name": model, "source": "s3://platform-bucket/anything"},
    )
    mlflow_error(foreign_scheme, 400, "INVALID_PARAMETER_VALUE")


async def test_mlflows_own_errors_keep_mlflows_shape(test_database: Database, mlflow_client: Client) -> None:
    admin = await grant_in(test_database, platform_admin=True)
    missing = await call(mlflow_client, "GET", "runs/get?run_id=does-not-exist", admin)
    mlflow_error(missing, 404, "RESOURCE_DOES_NOT_EXIST")
    invalid = await call(mlflow_client, "POST", "runs/log-metric", admin, json={"run_id": "x"})
    mlflow_error(invalid, 400, "INVALID_PARAMETER_VALUE")
    not_json = await mlflow_client.post(
        f"{API}/runs/create", content=b"{oops", headers={**admin, "content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert "error_code" in not_json.json()


async def test_admin_only_endpoints(test_database: Database, mlflow_client: Client, members: Members) -> None:
    denied = await call(mlflow_client, "GET", "webhooks", members.contributor)
    mlflow_error(denied, 403, "PERMISSION_DENIED")
    admin = await grant_in(test_database, platform_admin=True)
    allowed = await call(mlflow_client, "GET", "webhooks", admin)
    assert allowed.status_code == 200, allowed.text


async def test_graphql_reads_are_authorized_like_rest(mlflow_client: Client, members: Members) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    query = "query GetRun($data: MlflowGetRunInput!) { mlflowGetRun(input: $data) { run { info { runUuid } } } }"
    body = {"query": query, "variables": {"data": {"runId": run_id}}, "operationName": "GetRun"}
    allowed = await mlflow_client.post("/mlflow/graphql", json=body, headers=members.viewer)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["data"]["mlflowGetRun"]["run"]["info"]["runUuid"] == run_id
    denied = await mlflow_client.post("/mlflow/graphql", json=body, headers=members.outsider)
    mlflow_error(denied, 404, "RESOURCE_DOES_NOT_EXIST")
    selection = "{ runs { info { runUuid } } }"
    inline = {"query": f'{{ mlflowSearchRuns(input: {{experimentIds: ["{experiment_id}"]}}) {selection} }}'}
    mlflow_error(
        await mlflow_client.post("/mlflow/graphql", json=inline, headers=members.outsider),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    mutation = {"query": 'mutation { testMutation(inputString: "x") { output } }'}
    mlflow_error(
        await mlflow_client.post("/mlflow/graphql", json=mutation, headers=members.viewer), 403, "PERMISSION_DENIED"
    )


async def test_ui_pages_need_only_credentials(mlflow_client: Client, members: Members) -> None:
    page = await mlflow_client.get("/mlflow/", headers=members.viewer)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "static-files/" in page.text
    info = await mlflow_client.get("/mlflow/ajax-api/3.0/mlflow/server-info", headers=members.viewer)
    assert info.status_code == 200


async def test_writes_are_audited_and_searches_are_not(
    test_database: Database, mlflow_client: Client, members: Members
) -> None:
    experiment_id = await create_experiment(mlflow_client, members)
    await call(mlflow_client, "POST", "runs/search", members.viewer, json={"experiment_ids": [experiment_id]})
    await call(mlflow_client, "POST", "runs/create", members.viewer, json={"experiment_id": experiment_id})
    admin = await grant_in(test_database, platform_admin=True)
    events = (await mlflow_client.get("/api/v1/audit-events", params={"limit": 200}, headers=admin)).json()["items"]
    mlflow_rows = [e for e in events if "/mlflow" in e["path"] or e["action"].startswith("mlflow")]
    paths = [(e["method"], e["path"].rstrip("/"), e["outcome"]) for e in mlflow_rows]
    assert any(p.endswith("experiments/create") and o == "success" for _, p, o in paths), paths
    assert any(p.endswith("runs/create") and o == "denied" for _, p, o in paths), paths
    assert not any(p.endswith("runs/search") for _, p, _ in paths), paths
    created = next(e for e in mlflow_rows if e["path"].rstrip("/").endswith("experiments/create"))
    assert created["action"].startswith("mlflow."), created
    assert created["project"], created


async def test_a_get_with_a_json_body_is_read_like_mlflow_reads_it(mlflow_client: Client, members: Members) -> None:
    """MLflow takes a GET's fields from its JSON body when there is no query string."""
    experiment_id = await create_experiment(mlflow_client, members)
    run_id = await create_run(mlflow_client, members.contributor, experiment_id)
    body = f'{{"run_id": "{run_id}"}}'.encode()
    headers = {"content-type": "application/json"}
    outsider = await mlflow_client.request(
        "GET", f"{API}/runs/get", content=body, headers={**members.outsider, **headers}
    )
    mlflow_error(outsider, 404, "RESOURCE_DOES_NOT_EXIST")
    viewer = await mlflow_client.request("GET", f"{API}/runs/get", content=body, headers={**members.viewer, **headers})
    assert viewer.status_code == 200, viewer.text
    assert viewer.json()["run"]["info"]["run_id"] == run_id


async def test_the_browser_ui_works_with_the_session_cookie(mlflow_client: Client, members: Members) -> None:
    """Sign in at /login with an API key: the HttpOnly session cookie then opens the MLflow UI, and
    state-changing calls from another site's pages are refused."""
    experiment_id = await create_experiment(mlflow_client, members)
    key = members.contributor["Authorization"].removeprefix("Bearer ")
    signed_in = await mlflow_client.post(
        "/api/v1/auth/session", data={"api_key": key, "next": "/mlflow/"}, follow_redirects=False
    )
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/mlflow/"
    cookie = signed_in.cookies.get("mlp_session")
    assert cookie
    mlflow_client.cookies.clear()
    browser = {"Cookie": f"mlp_session={cookie}"}
    page = await mlflow_client.get("/mlflow/", headers=browser)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    listed = await mlflow_client.get(
        "/mlflow/ajax-api/2.0/mlflow/experiments/search", params={"max_results": 10}, headers=browser
    )
    assert [e["experiment_id"] for e in listed.json()["experiments"]] == [experiment_id]

    body = {"experiment_id": experiment_id}
    same_site = {**browser, "Origin": "http://testserver.local"}
    created = await mlflow_client.post("/mlflow/ajax-api/2.0/mlflow/runs/create", json=body, headers=same_site)
    assert created.status_code == 200, created.text
    cross_site = {**browser, "Origin": "https://evil.example"}
    blocked = await mlflow_client.post("/mlflow/ajax-api/2.0/mlflow/runs/create", json=body, headers=cross_site)
    mlflow_error(blocked, 403, "PERMISSION_DENIED")
