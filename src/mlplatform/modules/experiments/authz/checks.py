"""Reusable checks: "the experiment(s) / run(s) / artifact path / logged model / trace in this field"."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlplatform.modules.experiments.authz.errors import MlflowDenied
from mlplatform.modules.experiments.authz.policy import Check, Ctx, Plan
from mlplatform.modules.experiments.authz.projects import PROJECT_TAG, project_tag
from mlplatform.modules.experiments.authz.request import camel


async def anyone(ctx: Ctx) -> Plan:
    """Any authenticated caller (the UI's pages and static files, server info)."""
    return Plan()


async def admins_only(ctx: Ctx) -> Plan:
    if not ctx.admin:
        raise MlflowDenied.forbidden("this MLflow endpoint is reserved for platform admins")
    return Plan()


def experiment_ids(*names: str, source: str | None = None, required: bool = True) -> Check:
    """Every experiment id in the named fields must be in a project the caller holds the role in."""

    async def check(ctx: Ctx) -> Plan:
        if ctx.admin:
            return Plan()
        ids = ctx.all_values(*names, source=source)
        if not ids:
            if required:
                raise MlflowDenied.invalid(f"Missing value for required parameter '{names[0]}'.")
            return Plan()
        project = await _experiments(ctx, ids)
        return Plan(project=project, resource=f"experiment:{ids[0]}" if len(ids) == 1 else None)

    return check


async def _experiments(ctx: Ctx, ids: list[str]) -> str | None:
    projects = set()
    for experiment_id in ids:
        projects.add(await ctx.require(await ctx.resolver.experiment(experiment_id), f"Experiment '{experiment_id}'"))
    return projects.pop() if len(projects) == 1 else None


def run_ids(*names: str, source: str | None = None) -> Check:
    """Every run id in the named fields (`run_id`, `run_uuid`: both are read) must be authorized."""
    names = names or ("run_id", "run_uuid")

    async def check(ctx: Ctx) -> Plan:
        if ctx.admin:
            return Plan()
        ids = ctx.all_values(*names, source=source)
        if not ids:
            raise MlflowDenied.invalid(f"Missing value for required parameter '{names[0]}'.")
        projects = set()
        for run_id in ids:
            projects.add(await ctx.require(await ctx.resolver.run(run_id), f"Run '{run_id}'"))
        project = projects.pop() if len(projects) == 1 else None
        return Plan(project=project, resource=f"run:{ids[0]}" if len(ids) == 1 else None)

    return check


def artifact_path(getter: Callable[[Ctx], str | None]) -> Check:
    """Proxied artifact paths start with the experiment id (`<experiment>/<run>/artifacts/...`,
    `<experiment>/models/<model>/artifacts/...`, `<experiment>/traces/...`)."""

    async def check(ctx: Ctx) -> Plan:
        if ctx.admin:
            return Plan()
        path = getter(ctx)
        if not path:
            raise MlflowDenied.invalid("Request must specify an artifact path starting with an experiment id.")
        segments = path.split("/")
        unsafe = any(s in {".", ".."} for s in segments) or "" in segments[:-1] or not segments[0]
        if path.startswith("/") or "\\" in path or unsafe:
            raise MlflowDenied.invalid(f"Invalid artifact path: '{path}'")
        experiment_id = segments[0]
        project = await ctx.require(await ctx.resolver.experiment(experiment_id), f"Artifact path '{path}'")
        return Plan(project=project, resource=f"artifact:{path}")

    return check


def path_param(name: str) -> Callable[[Ctx], str | None]:
    return lambda ctx: ctx.call.path_params.get(name)


def query_param(name: str) -> Callable[[Ctx], str | None]:
    return lambda ctx: ctx.call.value(name, source="query")


def logged_model(getter: Callable[[Ctx], str | None]) -> Check:
    async def check(ctx: Ctx) -> Plan:
        if ctx.admin:
            return Plan()
        model_id = getter(ctx)
        if not model_id:
            raise MlflowDenied.invalid("Missing value for required parameter 'model_id'.")
        project = await ctx.require(await ctx.resolver.logged_model(model_id), f"Logged model '{model_id}'")
        return Plan(project=project, resource=f"logged-model:{model_id}")

    return check


def traces(getter: Callable[[Ctx], list[str]]) -> Check:
    async def check(ctx: Ctx) -> Plan:
        if ctx.admin:
            return Plan()
        ids = [i for i in getter(ctx) if i]
        if not ids:
            raise MlflowDenied.invalid("Missing value for required parameter 'trace_id'.")
        projects = set()
        for trace_id in ids:
            projects.add(await ctx.require(await ctx.resolver.trace(trace_id), f"Trace '{trace_id}'"))
        return Plan(project=projects.pop() if len(projects) == 1 else None)

    return check


def with_field(ctx: Ctx, name: str, value: str) -> dict[str, Any]:
    """Plan arguments that set one request field, wherever MLflow reads it from (query or body)."""
    if ctx.call.fields_from_query:
        query = {k: v for k, v in ctx.call.query.items() if k not in {name, camel(name)}}
        query[name] = [value]
        return {"query": query}
    body = {k: v for k, v in (ctx.call.body or {}).items() if k not in {name, camel(name)}}
    body[name] = value
    return {"body": body}


def project_filter(ctx: Ctx, readable: set[str], field_name: str = "filter") -> dict[str, Any]:
    """For a caller in exactly one project, AND a project-tag condition into the search filter so
    MLflow's pages stay full; with several projects (MLflow filters have no OR) results are only
    filtered afterwards."""
    if len(readable) != 1:
        return {}
    (project,) = readable
    condition = f"tags.`{PROJECT_TAG}` = '{project}'"
    existing = ctx.call.value(field_name)
    return with_field(ctx, field_name, f"{existing} AND {condition}" if existing and existing.strip() else condition)


def keep_readable(list_key: str, readable: set[str], project_of: Callable[[dict[str, Any]], str | None]) -> Any:
    """A response hook dropping the items of `list_key` whose project the caller cannot read."""

    async def hook(status: int, body: bytes) -> bytes:
        if status != 200:
            return body
        data = json.loads(body)
        items = data.get(list_key) or []
        kept = [item for item in items if project_of(item) in readable]
        if len(kept) == len(items):
            return body
        data[list_key] = kept
        return json.dumps(data).encode()

    return hook


def tagged_project(item: dict[str, Any]) -> str | None:
    return project_tag(item.get("tags"))
