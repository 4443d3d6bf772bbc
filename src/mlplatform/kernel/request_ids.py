"""Context variables describing the current request (set by middleware, read anywhere in the kernel)."""

from __future__ import annotations

from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("mlplatform_current_request_id", default=None)
current_actor: ContextVar[str | None] = ContextVar("mlplatform_current_actor", default=None)
"""Who is acting (set by the gateway once a request is authenticated); recorded on events and audit rows."""
