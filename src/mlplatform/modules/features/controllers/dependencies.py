"""Litestar providers of the features module's routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.page_parameters import PageCursor, PageLimit
from mlplatform.modules.features.connections.service import ConnectionService
from mlplatform.modules.features.constraints import NAME_PATTERN
from mlplatform.modules.features.runtime import FeaturesRuntime, features_runtime
from mlplatform.modules.features.services.definitions import DefinitionService


def provide_features(platform: PlatformContext) -> FeaturesRuntime:
    """Injected as `features_runtime`. Not `features`: Litestar answers 500 to a body whose invalid
    top-level field has the name of a dependency, and `features` is a field of several request bodies."""
    return features_runtime(platform)


def provide_connections(db_session: AsyncSession, platform: PlatformContext) -> ConnectionService:
    return ConnectionService(db_session, platform)


def provide_definitions(features_runtime: FeaturesRuntime) -> DefinitionService:
    return DefinitionService(features_runtime)


DefinitionName = Annotated[
    str,
    Parameter(
        pattern=NAME_PATTERN,
        description="The definition's name: letters, digits and underscores, not starting with a digit, at most "
        "128 characters.",
    ),
]
"""The `{name}` of an entity, data source, feature view or feature service in a path (the rule of `Name`)."""


@dataclass(frozen=True)
class PageRequest:
    """`cursor` and `limit` of a listing (declared once for the module's list routes)."""

    cursor: str | None
    limit: int | None


def provide_page_request(cursor: PageCursor = None, limit: PageLimit = None) -> PageRequest:
    return PageRequest(cursor, limit)


PAGE_REQUEST = {"page_request": Provide(provide_page_request, sync_to_thread=False)}
"""The `dependencies` of a list route: its `cursor` and `limit` query parameters as one `PageRequest`."""
