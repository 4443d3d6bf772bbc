"""Telling every replica that a credential, a principal's roles or the project list changed.

A change made through this replica (revoke a key, disable a user, grant or remove a role, create or delete
a project) is forgotten here twice: when the handler makes it, and again once its transaction has
committed, because a request verified between the two may have cached what the database held before the
commit. After the commit the change is also published on a Redis channel; every replica listens and forgets
the same entries, so a revocation reaches them within milliseconds. Should a message be lost (Redis away,
a listener reconnecting), the cache bound still holds: no answer is reused longer than
`auth.credential_cache_seconds` after the database read it rests on (`authn.py`), and a listener that had
to reconnect forgets everything, since it may have missed messages meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import TYPE_CHECKING, Any

import structlog

from mlplatform.kernel.background import BackgroundTask
from mlplatform.modules.gateway.access.projects_cache import ProjectCache
from mlplatform.modules.gateway.credentials.authn import Authenticator

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = structlog.get_logger("mlplatform.gateway")

CHANNEL = "mlp:gateway:invalidate"
PENDING = "mlplatform.gateway.invalidate"
"""Scope key: the changes a request made, announced by the gateway middleware after its commit."""
EVERYTHING = "all"
PROJECTS = "projects"


def key_changed(key_id: str) -> str:
    return f"key:{key_id}"


def principal_changed(principal_id: uuid.UUID) -> str:
    return f"principal:{principal_id}"


class Invalidations:
    def __init__(self, authenticator: Authenticator, projects: ProjectCache, redis: Redis | None) -> None:
        self.authenticator = authenticator
        self.projects = projects
        self.redis = redis
        self.instance = uuid.uuid4().hex
        self._listener = BackgroundTask("gateway-invalidations", self._listen)
        self.subscribed = asyncio.Event()
        """Set while this replica is listening (tests wait for it)."""

    # -- in a request -------------------------------------------------------------------------------
    def changed(self, scope: Any, *changes: str) -> None:
        """Forget `changes` here now, and once the request's transaction committed, here and everywhere."""
        for change in changes:
            self.apply(change)
        pending: list[str] = scope.setdefault(PENDING, [])
        pending.extend(changes)

    async def announce(self, changes: list[str]) -> None:
        """After the commit: forget again here, then tell the other replicas (best effort; the TTL is the bound)."""
        for change in changes:
            self.apply(change)
        if self.redis is None:
            return
        try:
            for change in dict.fromkeys(changes):
                await self.redis.publish(CHANNEL, f"{self.instance} {change}")
        except Exception:
            log.warning("gateway_invalidation_not_published", changes=changes, exc_info=True)

    def apply(self, change: str) -> None:
        kind, _, value = change.partition(":")
        if kind == "key":
            self.authenticator.forget_key(value)
        elif kind == "principal":
            try:
                self.authenticator.forget_principal(uuid.UUID(value))
            except ValueError:
                self.authenticator.forget_all()
        elif kind == PROJECTS:
            self.projects.invalidate()
        else:  # EVERYTHING, or a message this version does not know: the safe answer is to forget all
            self.authenticator.forget_all()
            self.projects.invalidate()

    # -- listening ----------------------------------------------------------------------------------
    def start(self) -> None:
        if self.redis is not None:
            self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    async def _listen(self) -> None:
        assert self.redis is not None
        first = True
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                if not first:  # messages may have been missed while away
                    self.apply(EVERYTHING)
                first = False
                self.subscribed.set()
                while True:
                    # Short polls: the shared client has a 2 s socket timeout meant for request paths.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message and message.get("type") == "message":
                        self._received(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                self.subscribed.clear()
                log.warning("gateway_invalidation_listener_down", exc_info=True)
                await asyncio.sleep(1.0)  # Redis away: the cache bound still holds
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _received(self, data: bytes | str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
        sender, _, change = text.partition(" ")
        if sender != self.instance:
            self.apply(change)
