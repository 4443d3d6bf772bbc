"""MLflow's `/graphql` endpoint (the UI's run page uses it): read-only queries over known fields.

The document is parsed and every top-level field of every operation checked: only the read fields
below, each with its `input` argument resolved (inline or from variables) and the experiments / runs it
names authorized like the matching REST endpoint. Mutations, top-level fragments and other fields are
for platform admins. Nested fields stay within the run or experiment already authorized.
"""

from __future__ import annotations

from typing import Any

from mlplatform.modules.experiments.authz.errors import MlflowDenied
from mlplatform.modules.experiments.authz.policy import Ctx, Plan, RuleCollector

rule = RuleCollector()

_EXPERIMENT_FIELDS = {"mlflowGetExperiment": ("experimentId",), "mlflowSearchRuns": ("experimentIds",)}
_EXPERIMENT_FIELDS["mlflowSearchDatasets"] = ("experimentIds",)
_RUN_FIELDS = {
    "mlflowGetRun": ("runId",),
    "mlflowListArtifacts": ("runId", "runUuid"),
    "mlflowGetMetricHistoryBulkInterval": ("runIds",),
}


@rule("GET,POST", "/graphql", "graphql.query", write=False)
async def graphql_query(ctx: Ctx) -> Plan:
    if ctx.admin:
        return Plan()
    body = ctx.call.body or {}
    query = body.get("query") if isinstance(body, dict) else None
    if not isinstance(query, str):
        raise MlflowDenied.invalid("GraphQL requests carry a 'query'.")
    given = body.get("variables")
    variables: dict[str, Any] = given if isinstance(given, dict) else {}
    experiments: list[str] = []
    runs: list[str] = []
    for name, arguments in _top_level_fields(query, variables):
        if name.startswith("__"):
            continue
        if name in _EXPERIMENT_FIELDS:
            experiments += _ids(arguments, _EXPERIMENT_FIELDS[name])
        elif name in _RUN_FIELDS:
            runs += _ids(arguments, _RUN_FIELDS[name])
        else:
            raise MlflowDenied.forbidden(f"GraphQL field '{name}' is reserved for platform admins")
    projects = set()
    for experiment_id in dict.fromkeys(experiments):
        projects.add(await ctx.require(await ctx.resolver.experiment(experiment_id), f"Experiment '{experiment_id}'"))
    for run_id in dict.fromkeys(runs):
        projects.add(await ctx.require(await ctx.resolver.run(run_id), f"Run '{run_id}'"))
    return Plan(project=projects.pop() if len(projects) == 1 else None)


def _top_level_fields(query: str, variables: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    from graphql import (
        FieldNode,
        GraphQLError,
        OperationDefinitionNode,
        OperationType,
        parse,
        value_from_ast_untyped,
    )

    try:
        document = parse(query)
    except GraphQLError as exc:
        raise MlflowDenied.invalid(f"Invalid GraphQL query: {exc.message}") from None
    fields: list[tuple[str, dict[str, Any]]] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.operation is not OperationType.QUERY:
            raise MlflowDenied.forbidden("GraphQL mutations are reserved for platform admins")
        for selection in definition.selection_set.selections:
            if not isinstance(selection, FieldNode):
                raise MlflowDenied.forbidden("top-level GraphQL fragments are reserved for platform admins")
            arguments = {a.name.value: value_from_ast_untyped(a.value, variables) for a in selection.arguments}
            fields.append((selection.name.value, arguments))
    return fields


def _ids(arguments: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    data = arguments.get("input")
    if not isinstance(data, dict):
        raise MlflowDenied.invalid("GraphQL fields take an 'input' object.")
    found: list[str] = []
    for key in keys:
        value = data.get(key)
        if isinstance(value, list):
            found += [str(v) for v in value if v is not None]
        elif value is not None:
            found.append(str(value))
    if not found:
        raise MlflowDenied.invalid(f"GraphQL input needs {' or '.join(keys)}.")
    return found
