"""Litestar dependencies every module's controllers use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from mlplatform.kernel.context import PlatformContext


def provide_platform(state: State) -> PlatformContext:
    context: PlatformContext = state.platform
    return context


async def provide_db_session(state: State, request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed after the handler returns and before the response is
    sent; an error in the handler rolls it back; a failed commit becomes an error response.
    Hooks registered in `before_request_commit` (the audit log) write into the same transaction."""
    context: PlatformContext = state.platform
    async with context.database.transaction() as session:
        yield session
        for hook in context.before_request_commit:
            await hook(request, session)
