"""Rules for MLflow's tracking API: experiments, runs, metrics, artifacts, logged models, traces, UI."""

from __future__ import annotations

import json
from typing import Any

import structlog

from mlplatform.modules.experiments.authz.checks import (
    anyone,
    artifact_path,
    experiment_ids,
    keep_readable,
    logged_model,
    path_param,
    project_filter,
    query_param,
    run_ids,
    tagged_project,
    traces,
)
from mlplatform.modules.experiments.authz.errors import MlflowDenied
from mlplatform.modules.experiments.authz.policy import Ctx, Plan, RuleCollector
from mlplatform.modules.experiments.authz.projects import (
    EXPERIMENT_SEPARATOR,
    PROJECT_TAG,
    project_of_experiment_name,
    project_tag,
)

log = structlog.get_logger("mlplatform.experiments")

rule = RuleCollector()
API = "/api/2.0/mlflow"
API3 = "/api/3.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts"
TERMINAL_RUN_STATUSES = frozenset({"FINISHED", "FAILED", "KILLED"})


# ---------------------------------------------------------------- experiments


@rule("POST", f"{API}/experiments/create", "experiments.create", write=True)
async def create_experiment(ctx: Ctx) -> Plan:
    """The name says the project (`<project>/...`); the platform adds the project tag. Artifacts always go
    to the platform's object store: a caller-chosen `artifact_location` could point into another project."""
    name = ctx.call.body_field("name")
    if not isinstance(name, str) or not name.strip():
        if ctx.admin:
            return Plan()
        raise MlflowDenied.invalid("Missing value for required parameter 'name'.")
    body: dict[str, Any] = dict(ctx.call.body or {})
    tags: list[Any] = list(body.get("tags") or [])
    project = project_of_experiment_name(name)
    tagged = project_tag(tags)
    if project is None and tagged is None and ctx.admin:
        return Plan(resource=f"experiment:{name}")
    if project is None:
        raise MlflowDenied.invalid(
            f"Experiment names start with the platform project they belong to, as in '<project>/{name}' "
            f"(for example 'churn/baseline'); got '{name}'."
        )
    if tagged is not None and tagged != project:
        raise MlflowDenied.invalid(f"Tag '{PROJECT_TAG}' must match the name's project '{project}'.")
    await ctx.require(project, f"Project '{project}'")
    if not ctx.admin and (body.get("artifact_location") or body.get("artifactLocation")):
        raise MlflowDenied.invalid("artifact_location is managed by the platform: leave it empty.")
    if tagged is None:
        tags.append({"key": PROJECT_TAG, "value": project})
        body["tags"] = tags

    async def remember(status: int, response: bytes) -> bytes:
        if status == 200:
            experiment_id = json.loads(response).get("experiment_id")
            if experiment_id:
                ctx.resolver.remember_experiment(str(experiment_id), project)
        return response

    return Plan(project=project, resource=f"experiment:{name}", body=body, on_response=remember)


rule.add("GET", f"{API}/experiments/get", "experiments.get", experiment_ids("experiment_id"), write=False)
rule.add("POST", f"{API}/experiments/delete", "experiments.delete", experiment_ids("experiment_id"), write=True)
rule.add("POST", f"{API}/experiments/restore", "experiments.restore", experiment_ids("experiment_id"), write=True)


@rule("GET", f"{API}/experiments/get-by-name", "experiments.get_by_name", write=False)
async def get_experiment_by_name(ctx: Ctx) -> Plan:
    if ctx.admin:
        return Plan()
    name = ctx.required_value("experiment_name")
    missing = f"Could not find experiment with name '{name}'"
    project = project_of_experiment_name(name)
    if project is None or ctx.principal.role_in(project) is None:
        raise MlflowDenied.not_found(missing)
    await ctx.require(project, missing)

    async def verify(status: int, body: bytes) -> bytes:
        if status == 200 and tagged_project(json.loads(body).get("experiment") or {}) != project:
            raise MlflowDenied.not_found(missing)
        return body

    return Plan(project=project, on_response=verify)


@rule("GET,POST", f"{API}/experiments/search", "experiments.search", write=False)
async def search_experiments(ctx: Ctx) -> Plan:
    readable = ctx.readable_projects()
    if readable is None:
        return Plan()
    if not readable:
        return Plan(respond={"experiments": []})
    return Plan(**project_filter(ctx, readable), on_response=keep_readable("experiments", readable, tagged_project))


@rule("POST", f"{API}/experiments/update", "experiments.update", write=True)
async def update_experiment(ctx: Ctx) -> Plan:
    plan = await experiment_ids("experiment_id")(ctx)
    new_name = ctx.call.value("new_name")
    if new_name and plan.project is not None and project_of_experiment_name(new_name) != plan.project:
        raise MlflowDenied.invalid(
            f"An experiment stays in its project: the new name must start with '{plan.project}{EXPERIMENT_SEPARATOR}'."
        )
    if new_name and ctx.admin:
        project = await ctx.resolver.experiment(ctx.required_value("experiment_id"))
        if project is not None and project_of_experiment_name(new_name) != project:
            raise MlflowDenied.invalid(f"The new name must start with '{project}{EXPERIMENT_SEPARATOR}'.")
    return plan


@rule("POST", f"{API}/experiments/set-experiment-tag", "experiments.set_tag", write=True)
@rule("POST", f"{API}/experiments/delete-experiment-tag", "experiments.delete_tag", write=True)
async def experiment_tag(ctx: Ctx) -> Plan:
    plan = await experiment_ids("experiment_id")(ctx)
    if ctx.call.value("key") == PROJECT_TAG:
        experiment_id = ctx.required_value("experiment_id")
        adopting = ctx.admin and ctx.call.path.endswith("/set-experiment-tag")
        if not adopting or await ctx.resolver.experiment(experiment_id) is not None:
            raise MlflowDenied.forbidden(
                f"Tag '{PROJECT_TAG}' is managed by the platform (only a platform admin may set it, once, "
                "on an experiment that has none)."
            )
    return plan


rule.add(
    "POST",
    f"{API}/experiments/search-datasets",
    "experiments.search_datasets",
    experiment_ids("experiment_ids"),
    write=False,
)


# ---------------------------------------------------------------- runs


@rule("POST", f"{API}/runs/create", "runs.create", write=True)
async def create_run(ctx: Ctx) -> Plan:
    experiment_id = ctx.call.value("experiment_id") or "0"
    if ctx.admin:
        return Plan()
    project = await ctx.resolver.experiment(experiment_id)
    if project is None and experiment_id == "0":
        raise MlflowDenied.invalid(
            "Runs belong to an experiment of a platform project: set one first, e.g. "
            "mlflow.set_experiment('<project>/<name>') or MLFLOW_EXPERIMENT_NAME=<project>/<name>."
        )
    await ctx.require(project, f"Experiment '{experiment_id}'")

    async def remember(status: int, response: bytes) -> bytes:
        if status == 200:
            run_id = (json.loads(response).get("run") or {}).get("info", {}).get("run_id")
            if run_id:
                ctx.resolver.remember_run(str(run_id), experiment_id)
        return response

    return Plan(project=project, resource=f"experiment:{experiment_id}", on_response=remember)


rule.add("GET", f"{API}/runs/get", "runs.get", run_ids(), write=False)
for _name, _action in {
    "delete": "runs.delete",
    "restore": "runs.restore",
    "log-metric": "runs.log_metric",
    "log-parameter": "runs.log_param",
    "log-batch": "runs.log_batch",
    "log-model": "runs.log_model",
    "log-inputs": "runs.log_inputs",
    "outputs": "runs.log_outputs",
    "set-tag": "runs.set_tag",
    "delete-tag": "runs.delete_tag",
}.items():
    rule.add("POST", f"{API}/runs/{_name}", _action, run_ids(), write=True)


@rule("POST", f"{API}/runs/update", "runs.update", write=True)
async def update_run(ctx: Ctx) -> Plan:
    """A success that moves a run to a terminal status publishes RunFinished (once per transition)."""
    plan = await run_ids()(ctx)
    status = ctx.call.value("status")
    run_id = ctx.call.value("run_id") or ctx.call.value("run_uuid")
    if status not in TERMINAL_RUN_STATUSES or not run_id:
        return plan
    stores = await ctx.resolver.mlflow.stores()
    try:
        before = await ctx.resolver.mlflow.call(stores.tracking.get_run, run_id)
    except Exception as exc:  # MLflow answers the update itself (e.g. RESOURCE_DOES_NOT_EXIST); nothing to publish
        log.info("mlflow_run_not_readable_before_update", run_id=run_id, error=str(exc)[:200])
        return plan
    previous = str(before.info.status)
    project = await ctx.resolver.experiment(str(before.info.experiment_id))

    async def observe(code: int, body: bytes) -> bytes:
        if code == 200 and project is not None:
            await ctx.events.run_terminated(run_id, project, previous)
        return body

    plan.on_response = observe
    return plan


rule.add("POST", f"{API}/runs/search", "runs.search", experiment_ids("experiment_ids"), write=False)


# ---------------------------------------------------------------- metrics


rule.add("GET", f"{API}/metrics/get-history", "metrics.get_history", run_ids(), write=False)
rule.add(
    "GET", f"{API}/metrics/get-history-bulk", "metrics.get_history_bulk", run_ids("run_id", source="query"), write=False
)
rule.add(
    "GET",
    f"{API}/metrics/get-history-bulk-interval",
    "metrics.get_history_bulk_interval",
    run_ids("run_ids"),
    write=False,
)


# ---------------------------------------------------------------- artifacts


rule.add("GET", f"{API}/artifacts/list", "artifacts.list", run_ids(), write=False)
rule.add("GET", "/get-artifact", "artifacts.get", run_ids("run_id", "run_uuid", source="query"), write=False)
rule.add(
    "POST",
    f"{API}/upload-artifact",
    "artifacts.upload",
    run_ids("run_uuid", source="query"),
    write=True,
    parse_body=False,
)
rule.add("POST", f"{API}/artifacts/presigned-download-url", "artifacts.presigned_download", run_ids(), write=False)
rule.add("POST", f"{API}/artifacts/presigned-upload-url", "artifacts.presigned_upload", run_ids(), write=True)

rule.add("GET", f"{ARTIFACTS}/artifacts", "artifacts.list_proxied", artifact_path(query_param("path")), write=False)
rule.add(
    "GET", f"{ARTIFACTS}/artifacts/{{path:path}}", "artifacts.download", artifact_path(path_param("path")), write=False
)
rule.add(
    "PUT",
    f"{ARTIFACTS}/artifacts/{{path:path}}",
    "artifacts.upload",
    artifact_path(path_param("path")),
    write=True,
    parse_body=False,
)
rule.add(
    "DELETE", f"{ARTIFACTS}/artifacts/{{path:path}}", "artifacts.delete", artifact_path(path_param("path")), write=True
)
rule.add(
    "POST",
    f"{ARTIFACTS}/mpu/{{operation}}/{{path:path}}",
    "artifacts.multipart",
    artifact_path(path_param("path")),
    write=True,
)
rule.add(
    "GET", f"{ARTIFACTS}/presigned/{{path:path}}", "artifacts.presigned", artifact_path(path_param("path")), write=False
)


# ---------------------------------------------------------------- logged models (MLflow 3)


rule.add("POST", f"{API}/logged-models", "logged_models.create", experiment_ids("experiment_id"), write=True)
rule.add("POST", f"{API}/logged-models/search", "logged_models.search", experiment_ids("experiment_ids"), write=False)
_MODEL = logged_model(path_param("model_id"))
rule.add("GET", f"{API}/logged-models/{{model_id}}", "logged_models.get", _MODEL, write=False)
rule.add("DELETE", f"{API}/logged-models/{{model_id}}", "logged_models.delete", _MODEL, write=True)
rule.add("PATCH", f"{API}/logged-models/{{model_id}}", "logged_models.finalize", _MODEL, write=True)
rule.add("POST", f"{API}/logged-models/{{model_id}}/params", "logged_models.log_params", _MODEL, write=True)
rule.add("PATCH", f"{API}/logged-models/{{model_id}}/tags", "logged_models.set_tags", _MODEL, write=True)
rule.add("DELETE", f"{API}/logged-models/{{model_id}}/tags/{{key}}", "logged_models.delete_tag", _MODEL, write=True)
rule.add(
    "GET",
    f"{API}/logged-models/{{model_id}}/artifacts/directories",
    "logged_models.list_artifacts",
    _MODEL,
    write=False,
)
rule.add("GET", f"{API}/logged-models/{{model_id}}/artifacts/files", "logged_models.get_artifact", _MODEL, write=False)


# ---------------------------------------------------------------- traces (read-only for members)


def _trace_locations(ctx: Ctx) -> list[str]:
    ids = ctx.all_values("experiment_ids")
    for location in ctx.call.body_field("locations") or []:
        if isinstance(location, dict):
            experiment = location.get("mlflow_experiment") or location.get("mlflowExperiment") or {}
            value = experiment.get("experiment_id") or experiment.get("experimentId")
            if value is not None:
                ids.append(str(value))
    return list(dict.fromkeys(ids))


@rule("POST", f"{API3}/traces/search", "traces.search", write=False)
async def search_traces(ctx: Ctx) -> Plan:
    if ctx.admin:
        return Plan()
    ids = _trace_locations(ctx)
    if not ids:
        raise MlflowDenied.invalid("Missing value for required parameter 'locations'.")
    projects = {await ctx.require(await ctx.resolver.experiment(i), f"Experiment '{i}'") for i in ids}
    return Plan(project=projects.pop() if len(projects) == 1 else None)


rule.add("GET", f"{API3}/traces/get", "traces.get", traces(lambda ctx: ctx.all_values("trace_id")), write=False)
rule.add(
    "GET", f"{API3}/traces/batchGet", "traces.batch_get", traces(lambda ctx: ctx.all_values("trace_ids")), write=False
)
rule.add(
    "POST",
    f"{API3}/traces/batchGetInfos",
    "traces.batch_get_infos",
    traces(lambda ctx: ctx.all_values("trace_ids")),
    write=False,
)
rule.add(
    "GET",
    f"{API3}/traces/{{trace_id}}",
    "traces.get_info",
    traces(lambda ctx: [ctx.call.path_params.get("trace_id", "")]),
    write=False,
)
for _prefix in (API, API3):
    rule.add(
        "GET",
        f"{_prefix}/get-trace-artifact",
        "traces.get_artifact",
        traces(lambda ctx: ctx.all_values("request_id", source="query")),
        write=False,
    )


# ---------------------------------------------------------------- the UI and server information


for _path in ("/", "/health", "/version", "/static-files/{path:path}", f"{API3}/server-info"):
    rule.add("GET,HEAD", _path, "ui.read", anyone, write=False)
rule.add("GET,POST", f"{API3}/ui-telemetry", "ui.telemetry", anyone, write=False)
