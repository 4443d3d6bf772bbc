"""A model's input from a prediction request: request-time values plus online features joined by entity key.

The model's column signature decides the columns and their order. Each column comes from the request's own
values when it has them (request-time inputs win), else from the deployment's feature service (read online
through the features module's fast path), else from the entity keys themselves. A model without a column
signature gets the request's columns followed by the service's features, in the service's order.

A feature with no fresh online value (NOT_FOUND, OUTSIDE_MAX_AGE, NULL_VALUE) is handled by the deployment's
`missing_features`: `reject` (422 naming the entity and the feature), `null` or `default`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Invalid
from mlplatform.modules.features.api import read_online_features
from mlplatform.modules.serving.formats.payload import FrameInput
from mlplatform.modules.serving.served import Served

PRESENT = "PRESENT"


@dataclass(frozen=True)
class Joined:
    names: list[str]
    """The joined features that became model columns, in column order."""
    column_statuses: list[list[str]]
    """Per joined feature, each row's status as the online store reported it."""


def _entity_text(entities: dict[str, list[Any]], row: int) -> str:
    return ", ".join(f"{name}={values[row]!r}" for name, values in entities.items())


async def join_features(
    platform: PlatformContext, served: Served, entities: dict[str, list[Any]], given: FrameInput | None
) -> tuple[FrameInput, Joined]:
    """The model's input frame for `entities` (columnar join keys) and the request's own values `given`."""
    deployment = served.deployment
    service = served.feature_service
    if service is None:
        raise Invalid(
            f"entities: deployment {deployment.id} joins no features (its version names no feature service and "
            "its serving options set none, and lineage knows of no feature service its training data came from): "
            "send the model's inputs instead",
            field="entities",
        )
    answer = await read_online_features(platform, deployment.project, entities=entities, feature_service=service)
    rows = len(next(iter(entities.values())))
    given_columns = _given_columns(given, rows)
    online = dict(
        zip(answer["metadata"]["feature_names"][len(entities) :], answer["results"][len(entities) :], strict=True)
    )
    wanted = _column_names(served, given_columns, online)
    columns: dict[str, list[Any]] = {}
    joined: list[str] = []
    for name in wanted:
        if name in given_columns:
            columns[name] = given_columns[name]
        elif name in online:
            columns[name] = _feature_values(served, name, online[name], entities)
            joined.append(name)
        elif name in entities:
            columns[name] = list(entities[name])
        else:
            raise Invalid(
                f"inputs: the model needs column {name!r}, which is neither in the request nor a feature of "
                f"service {service!r}",
                field="inputs",
                column=name,
            )
    statuses = [online[name]["statuses"] for name in joined]
    return FrameInput(columns=columns, rows=rows), Joined(names=joined, column_statuses=statuses)


def _given_columns(given: FrameInput | None, rows: int) -> dict[str, list[Any]]:
    if given is None:
        return {}
    if given.rows == rows:
        return given.columns
    if given.rows == 1:  # one set of request-time values for every entity row
        return {name: values * rows for name, values in given.columns.items()}
    raise Invalid(
        f"inputs: {given.rows} rows of request values for {rows} entity rows (give one row, or one per entity row)",
        field="inputs",
    )


def _column_names(served: Served, given: dict[str, list[Any]], online: dict[str, Any]) -> Sequence[str]:
    signature = served.info.inputs
    if signature is not None:
        return [column.name for column in signature if column.required or column.name in given or column.name in online]
    return [*given, *(name for name in online if name not in given)]


def _feature_values(served: Served, name: str, vector: dict[str, Any], entities: dict[str, list[Any]]) -> list[Any]:
    values: list[Any] = vector["values"]
    statuses: list[str] = vector["statuses"]
    if all(status == PRESENT for status in statuses):
        return values
    options = served.deployment.serving
    values = list(values)
    for row, status in enumerate(statuses):
        if status == PRESENT:
            continue
        if options.missing_features == "null":
            values[row] = None
        elif options.missing_features == "default" and name in options.feature_defaults:
            values[row] = options.feature_defaults[name]
        else:
            no_default = " and the deployment has no default for it" if options.missing_features == "default" else ""
            raise Invalid(
                f"entities: feature {name!r} of entity {_entity_text(entities, row)} is {status}{no_default} "
                "(the deployment's missing_features is "
                f"{options.missing_features!r})",
                field="entities",
                feature=name,
                feature_status=status,
                row=row,
            )
    return values
