"""Rules for MLflow's model registry: registered models, versions, aliases."""

from __future__ import annotations

import json
from typing import Any

from mlplatform.modules.experiments.authz.checks import keep_readable, project_filter, tagged_project
from mlplatform.modules.experiments.authz.errors import MlflowDenied
from mlplatform.modules.experiments.authz.policy import Check, Ctx, Plan, RuleCollector
from mlplatform.modules.experiments.authz.production import PRODUCTION_ALIASES, PRODUCTION_STAGE
from mlplatform.modules.experiments.authz.projects import (
    MODEL_SEPARATOR,
    PROJECT_TAG,
    project_of_model_name,
    project_tag,
)
from mlplatform.modules.gateway.api import Role

rule = RuleCollector()
MODELS = "/api/2.0/mlflow/registered-models"
VERSIONS = "/api/2.0/mlflow/model-versions"
ARTIFACTS_API = "/api/2.0/mlflow-artifacts"


def model_name(field: str = "name", *, source: str | None = None) -> Check:
    """The registered model named in `field` must be in a project the caller holds the role in."""

    async def check(ctx: Ctx) -> Plan:
        if ctx.admin:
            return Plan()
        name = ctx.required_value(field, source=source)
        project = await ctx.resolver.registered_model(name)
        await ctx.require(project, f"Registered Model with name={name}")
        return Plan(project=project, resource=f"registered-model:{name}")

    return check


@rule("POST", f"{MODELS}/create", "registered_models.create", write=True)
async def create_registered_model(ctx: Ctx) -> Plan:
    """The name says the project (`<project>.<model>`); the platform adds the project tag."""
    name = ctx.call.body_field("name")
    if not isinstance(name, str) or not name.strip():
        if ctx.admin:
            return Plan()
        raise MlflowDenied.invalid("Missing value for required parameter 'name'.")
    body: dict[str, Any] = dict(ctx.call.body or {})
    tags: list[Any] = list(body.get("tags") or [])
    project = project_of_model_name(name)
    tagged = project_tag(tags)
    if project is None and tagged is None and ctx.admin:
        return Plan(resource=f"registered-model:{name}")
    if project is None:
        raise MlflowDenied.invalid(
            f"Registered model names start with the platform project they belong to, as in "
            f"'<project>{MODEL_SEPARATOR}{name}' (for example 'churn{MODEL_SEPARATOR}classifier'); got '{name}'."
        )
    if tagged is not None and tagged != project:
        raise MlflowDenied.invalid(f"Tag '{PROJECT_TAG}' must match the name's project '{project}'.")
    await ctx.require(project, f"Project '{project}'")
    if tagged is None:
        tags.append({"key": PROJECT_TAG, "value": project})
        body["tags"] = tags
    ctx.resolver.forget_registered_model(name)
    return Plan(project=project, resource=f"registered-model:{name}", body=body)


rule.add("GET", f"{MODELS}/get", "registered_models.get", model_name(), write=False)
rule.add(
    "GET,POST", f"{MODELS}/get-latest-versions", "registered_models.get_latest_versions", model_name(), write=False
)
rule.add("PATCH", f"{MODELS}/update", "registered_models.update", model_name(), write=True)
rule.add("GET", f"{MODELS}/alias", "registered_models.get_alias", model_name(), write=False)
rule.add("DELETE", f"{MODELS}/alias", "registered_models.set_alias", model_name(), write=True)


@rule("POST", f"{MODELS}/alias", "registered_models.set_alias", write=True)
async def set_alias(ctx: Ctx) -> Plan:
    """A production alias follows the catalogue's production policy (`production.py`)."""
    plan = await model_name()(ctx)
    alias = ctx.call.value("alias") or ""
    if alias.lower() in PRODUCTION_ALIASES:
        await _check_production(ctx)
    return plan


async def _check_production(ctx: Ctx) -> None:
    name = ctx.required_value("name")
    version = ctx.required_value("version")
    project = await ctx.resolver.registered_model(name)
    if project is not None and ctx.production is not None:
        await ctx.production.check(project, name, version)


@rule("DELETE", f"{MODELS}/delete", "registered_models.delete", write=True)
async def delete_registered_model(ctx: Ctx) -> Plan:
    plan = await model_name()(ctx)
    name = ctx.call.value("name")
    if name:
        ctx.resolver.forget_registered_model(name)
    return plan


@rule("POST", f"{MODELS}/rename", "registered_models.rename", write=True)
async def rename_registered_model(ctx: Ctx) -> Plan:
    name = ctx.required_value("name")
    new_name = ctx.required_value("new_name")
    plan = await model_name()(ctx)
    project = plan.project if not ctx.admin else await ctx.resolver.registered_model(name)
    if project is not None and project_of_model_name(new_name) != project:
        raise MlflowDenied.invalid(
            f"A registered model stays in its project: the new name must start with '{project}{MODEL_SEPARATOR}'."
        )
    ctx.resolver.forget_registered_model(name)
    ctx.resolver.forget_registered_model(new_name)
    return plan


@rule("POST", f"{MODELS}/set-tag", "registered_models.set_tag", write=True)
@rule("DELETE", f"{MODELS}/delete-tag", "registered_models.delete_tag", write=True)
async def registered_model_tag(ctx: Ctx) -> Plan:
    plan = await model_name()(ctx)
    if ctx.call.value("key") == PROJECT_TAG:
        name = ctx.required_value("name")
        adopting = ctx.admin and ctx.call.path.endswith("/set-tag")
        if not adopting or await ctx.resolver.registered_model(name) is not None:
            raise MlflowDenied.forbidden(
                f"Tag '{PROJECT_TAG}' is managed by the platform (only a platform admin may set it, once, "
                "on a registered model that has none)."
            )
        ctx.resolver.forget_registered_model(name)
    return plan


@rule("GET,POST", f"{MODELS}/search", "registered_models.search", write=False)
async def search_registered_models(ctx: Ctx) -> Plan:
    readable = ctx.readable_projects()
    if readable is None:
        return Plan()
    if not readable:
        return Plan(respond={"registered_models": []})
    return Plan(
        **project_filter(ctx, readable), on_response=keep_readable("registered_models", readable, tagged_project)
    )


# ---------------------------------------------------------------- model versions


@rule("POST", f"{VERSIONS}/create", "model_versions.create", write=True)
async def create_model_version(ctx: Ctx) -> Plan:
    """Besides write access to the model, the caller must be able to read what the version points at
    (its run, logged model or artifact location): a version cannot be used to reach another project's
    artifacts. A success publishes ModelVersionCreated."""
    name = ctx.required_value("name")
    project = await ctx.resolver.registered_model(name)
    await ctx.require(project, f"Registered Model with name={name}")
    if not ctx.admin:
        for run_id in ctx.all_values("run_id"):
            await ctx.require(await ctx.resolver.run(run_id), f"Run '{run_id}'", role=Role.VIEWER)
        for model_id in ctx.all_values("model_id"):
            await ctx.require(await ctx.resolver.logged_model(model_id), f"Logged model '{model_id}'", role=Role.VIEWER)
        await _check_source(ctx, ctx.call.value("source") or "")

    async def observe(status: int, body: bytes) -> bytes:
        if status == 200 and project is not None:
            version = json.loads(body).get("model_version") or {}
            await ctx.events.model_version_created(project, version)
        return body

    return Plan(project=project, resource=f"registered-model:{name}", on_response=observe)


async def _check_source(ctx: Ctx, source: str) -> None:
    what = f"Model source '{source}'"
    viewer = Role.VIEWER
    if source.startswith("models:/"):
        target = source[len("models:/") :].split("/", 1)[0]
        if target.startswith("m-"):
            await ctx.require(await ctx.resolver.logged_model(target), what, role=viewer)
        else:
            model = target.split("@", 1)[0]
            await ctx.require(await ctx.resolver.registered_model(model), what, role=viewer)
    elif source.startswith("runs:/"):
        run_id = source[len("runs:/") :].split("/", 1)[0]
        await ctx.require(await ctx.resolver.run(run_id), what, role=viewer)
    elif source.startswith("mlflow-artifacts:"):
        path = source[len("mlflow-artifacts:") :]
        if path.startswith("//"):
            path = path[2:].split("/", 1)[1] if "/" in path[2:] else ""
        experiment_id = path.lstrip("/").split("/", 1)[0]
        if ".." in path.split("/"):
            raise MlflowDenied.invalid(f"Invalid model source '{source}'.")
        await ctx.require(await ctx.resolver.experiment(experiment_id) if experiment_id else None, what, role=viewer)
    else:
        raise MlflowDenied.invalid(
            "A model version's source must be a models:/, runs:/ or mlflow-artifacts:/ URI of this platform."
        )


for _path, _method, _action, _write in (
    ("get", "GET", "model_versions.get", False),
    ("get-download-uri", "GET", "model_versions.get_download_uri", False),
    ("update", "PATCH", "model_versions.update", True),
    ("delete", "DELETE", "model_versions.delete", True),
    ("set-tag", "POST", "model_versions.set_tag", True),
    ("delete-tag", "DELETE", "model_versions.delete_tag", True),
):
    rule.add(_method, f"{VERSIONS}/{_path}", _action, model_name(), write=_write)


@rule("POST", f"{VERSIONS}/transition-stage", "model_versions.transition_stage", write=True)
async def transition_stage(ctx: Ctx) -> Plan:
    """The `Production` stage follows the catalogue's production policy (`production.py`)."""
    plan = await model_name()(ctx)
    if (ctx.call.value("stage") or "").strip().lower() == PRODUCTION_STAGE:
        await _check_production(ctx)
    return plan


@rule("GET", "/model-versions/get-artifact", "model_versions.get_artifact", write=False)
async def get_model_version_artifact(ctx: Ctx) -> Plan:
    """A file of a model version. MLflow serves it itself when the version's location is proxied
    (`mlflow-artifacts:/`); for a `runs:/` location its handler would need a tracking *server* URI and fails
    (naming the database URL). Such a request is sent to the run's proxied artifact path instead."""
    plan = await model_name(source="query")(ctx)
    name = ctx.call.value("name", source="query")
    version = ctx.call.value("version", source="query")
    path = ctx.call.value("path", source="query")
    if not name or not version or path is None:
        return plan  # MLflow answers the missing parameter
    segments = path.split("/")
    if path.startswith("/") or "\\" in path or any(s in {".", ".."} for s in segments):
        raise MlflowDenied.invalid(f"Invalid path: '{path}'")
    proxied = await _proxied_location(ctx, name, version)
    if proxied is not None:
        plan.path = f"{ARTIFACTS_API}/artifacts/{proxied}/{path}" if path else f"{ARTIFACTS_API}/artifacts/{proxied}"
        plan.query = {}
    return plan


async def _proxied_location(ctx: Ctx, name: str, version: str) -> str | None:
    """For a version stored at `runs:/<run>/<sub>`, the run's proxied artifact path (`<experiment>/<run>/
    artifacts/<sub>`); None for any other location (MLflow handles it) or a version that does not exist."""
    mlflow = ctx.resolver.mlflow
    stores = await mlflow.stores()
    from mlflow.exceptions import MlflowException  # loaded by now

    try:
        location = await mlflow.call(stores.registry.get_model_version_download_uri, name, version)
        if not isinstance(location, str) or not location.startswith("runs:/"):
            return None
        run_id, _, sub = location[len("runs:/") :].lstrip("/").partition("/")
        run = await mlflow.call(stores.tracking.get_run, run_id)
    except MlflowException:
        return None
    root = str(run.info.artifact_uri or "")
    if not root.startswith("mlflow-artifacts:"):
        return None
    relative = root[len("mlflow-artifacts:") :]
    if relative.startswith("//"):  # mlflow-artifacts://host/<path>
        relative = relative[2:].partition("/")[2]
    parts = [p for p in (relative.strip("/"), sub.strip("/")) if p]
    return "/".join(parts) or None


@rule("GET", f"{VERSIONS}/search", "model_versions.search", write=False)
async def search_model_versions(ctx: Ctx) -> Plan:
    readable = ctx.readable_projects()
    if readable is None:
        return Plan()
    if not readable:
        return Plan(respond={"model_versions": []})

    async def keep(status: int, body: bytes) -> bytes:
        if status != 200:
            return body
        data = json.loads(body)
        versions = data.get("model_versions") or []
        projects: dict[str, str | None] = {}
        for name in {v.get("name") for v in versions if isinstance(v.get("name"), str)}:
            projects[name] = await ctx.resolver.registered_model(name)
        kept = [v for v in versions if projects.get(v.get("name")) in readable]
        if len(kept) == len(versions):
            return body
        data["model_versions"] = kept
        return json.dumps(data).encode()

    return Plan(on_response=keep)
