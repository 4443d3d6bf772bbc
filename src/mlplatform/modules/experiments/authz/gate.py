"""The ASGI wrapper between the gateway and MLflow's server: authorize, rewrite, forward, post-process.

Per request:
1. restore the full path Litestar's mount stripped (from `raw_path`) and set `root_path` to the mount
   prefix, which is what MLflow's routing, UI links and streaming artifact uploads expect;
2. match the endpoint's rule (unknown endpoints are for platform admins only), read the JSON body
   when the rule needs it (artifact uploads stream through untouched), run the rule's check;
3. mark the request for the gateway's audit log: writes carry action/project/resource, reads (MLflow
   searches are POSTs) are marked as not needing an audit row;
4. forward to MLflow with the (possibly rewritten) body and query, and pass MLflow's response through,
   buffering it only when the rule post-processes it (search filtering, events after success).
Denials and bad requests are answered in MLflow's error shape, which the MLflow client parses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import structlog

from mlplatform.kernel.errors import PlatformError
from mlplatform.modules.experiments.authz import graphql_rules, registry_rules, tracking_rules
from mlplatform.modules.experiments.authz.checks import admins_only
from mlplatform.modules.experiments.authz.errors import (
    REQUEST_LIMIT_EXCEEDED,
    TEMPORARILY_UNAVAILABLE,
    MlflowDenied,
    send_error,
)
from mlplatform.modules.experiments.authz.policy import (
    UNCHANGED,
    Ctx,
    EventSink,
    Plan,
    ProductionCheck,
    Rule,
    RuleBook,
)
from mlplatform.modules.experiments.authz.projects import ProjectResolver
from mlplatform.modules.experiments.authz.request import MlflowCall
from mlplatform.modules.experiments.hosting.asgi_types import Message, Receive, Scope, Send
from mlplatform.modules.experiments.hosting.config import MOUNT_PATH
from mlplatform.modules.experiments.hosting.error_details import MAX_ERROR_BODY, ErrorScrubber
from mlplatform.modules.experiments.hosting.host import MlflowHost
from mlplatform.modules.gateway.api import AUDIT_DETAILS, Principal, ProjectDirectory
from mlplatform.modules.gateway.api import AUDITED_FLAG as GATEWAY_AUDITED_FLAG

log = structlog.get_logger("mlplatform.experiments")

RULES = RuleBook([*tracking_rules.rule.rules, *registry_rules.rule.rules, *graphql_rules.rule.rules])
ADMIN_RULE = Rule(frozenset(), "", "admin", True, admins_only)

AUDIT_KEY = AUDIT_DETAILS
"""Scope key the gateway's audit reads for the action/project/resource of an MLflow write."""
AUDITED_FLAG = GATEWAY_AUDITED_FLAG
"""Scope key telling the gateway not to write an audit row (set for MLflow reads sent as POST)."""
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class MlflowGate:
    def __init__(
        self,
        mlflow: MlflowHost,
        resolver: ProjectResolver,
        events: EventSink,
        projects: Callable[[], ProjectDirectory],
        *,
        max_body_bytes: int,
        trusted_origins: tuple[str, ...] = (),
        production: ProductionCheck | None = None,
    ) -> None:
        self.mlflow = mlflow
        self.resolver = resolver
        self.events = events
        self.projects = projects
        self.max_body_bytes = max_body_bytes
        self.trusted_origins = trusted_origins
        self.production = production
        self.scrubber = ErrorScrubber(mlflow.config.internal_strings())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user")
        if not isinstance(principal, Principal):
            await send_error(send, 401, "UNAUTHENTICATED", "credentials required")
            return
        full_path = _full_path(scope)
        # Litestar's mount rewrote the shared scope's path (prefix stripped, `/` appended); put the real one
        # back so the gateway's audit row and the access log name what the client asked for.
        scope["path"] = full_path
        relative = full_path[len(MOUNT_PATH) :] or "/"
        method = scope["method"]
        call = MlflowCall.build(method, relative, scope.get("query_string", b""))
        matched = RULES.match(method, call.path)
        rule, call.path_params = matched if matched is not None else (ADMIN_RULE, {})
        try:
            self._check_origin(scope, principal, method)
            replay: bytes | None = None
            if rule.parse_body and not call.fields_from_query:
                # MLflow reads a GET's fields from its JSON body when it has no query string: so do we.
                replay = await _read_body(receive, self.max_body_bytes)
                call.parse_body(replay)
            else:
                call.parse_body(b"")
            ctx = Ctx(
                call,
                principal,
                self.resolver,
                self.projects(),
                self.events,
                write=rule.write,
                production=self.production,
            )
            plan = await rule.check(ctx)
        except MlflowDenied as exc:
            _mark_audit(scope, rule, None, denied=True)
            await send_error(send, exc.status, exc.error_code, exc.message)
            return
        except PlatformError as exc:
            await send_error(send, exc.status_code, TEMPORARILY_UNAVAILABLE, exc.detail)
            return
        _mark_audit(scope, rule, plan)
        if plan.respond is not None:
            await _send_json(send, 200, plan.respond)
            return
        try:
            mlflow_app = await self.mlflow.app()
        except PlatformError as exc:
            await send_error(send, exc.status_code, TEMPORARILY_UNAVAILABLE, exc.detail)
            return
        inner = dict(scope)
        target = MOUNT_PATH + plan.path if plan.path is not None else full_path
        inner["path"] = target
        inner["root_path"] = scope.get("root_path", "") + MOUNT_PATH
        inner["raw_path"] = target.encode()
        if plan.query is not None:
            inner["query_string"] = urlencode(plan.query, doseq=True).encode()
        inner_receive = receive
        if replay is not None:
            if plan.body is not UNCHANGED:
                replay = json.dumps(plan.body).encode()
                inner["headers"] = _with_length(scope["headers"], len(replay))
            inner_receive = _replaying(replay, receive)
        inner_send = _withholding_internals(send, self.scrubber, full_path)
        if plan.on_response is not None:
            inner_send = _post_processing(inner_send, plan)
        await mlflow_app(inner, inner_receive, inner_send)

    def _check_origin(self, scope: Scope, principal: Principal, method: str) -> None:
        """A browser session (cookie) may only write from the platform's own pages or trusted origins."""
        if principal.credential != "session" or method not in MUTATING:
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin", b"").decode("latin-1")
        if not origin or origin in self.trusted_origins:
            return
        if urlsplit(origin).netloc != headers.get(b"host", b"").decode("latin-1"):
            raise MlflowDenied.forbidden("Cross-origin request blocked")


def _full_path(scope: Scope) -> str:
    """The request path before Litestar's mount stripped the prefix (and appended a `/`)."""
    raw = scope.get("raw_path")
    if raw:
        path = unquote(raw.decode("latin-1").split("?", 1)[0])
        root = scope.get("root_path", "")
        if root and path.startswith(root + MOUNT_PATH):
            path = path[len(root) :]
        if path.startswith(MOUNT_PATH):
            return path
    stripped = scope["path"]
    return MOUNT_PATH + (stripped.rstrip("/") if stripped != "/" else "/")


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise MlflowDenied(413, REQUEST_LIMIT_EXCEEDED, f"request body larger than {limit} bytes")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_length(headers: Any, length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k not in {b"content-length", b"transfer-encoding"}]
    return [*kept, (b"content-length", str(length).encode())]


def _withholding_internals(send: Send, scrubber: ErrorScrubber, path: str) -> Send:
    """Pass successful responses through untouched; buffer an error's body (up to a limit) and send it with
    MLflow's internals (SQL, database URLs, server paths) withheld (`error_details.py`)."""
    start: Message | None = None
    passing = False
    replaced = False
    chunks: list[bytes] = []
    size = 0

    async def replace(body: bytes) -> None:
        assert start is not None
        kept = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.lower() not in {b"content-length", b"content-type", b"content-encoding", b"transfer-encoding"}
        ]
        headers = [*kept, (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def guard(message: Message) -> None:
        nonlocal start, passing, replaced, size
        if message["type"] == "http.response.start":
            if message["status"] < 400:
                passing = True
                await send(message)
            else:
                start = message
            return
        if passing or start is None or message["type"] != "http.response.body":
            await send(message)
            return
        if replaced:
            return  # the rest of an oversized error body: already answered
        chunk = message.get("body", b"")
        size += len(chunk)
        status = int(start["status"])
        encoded = any(k.lower() == b"content-encoding" and v.lower() != b"identity" for k, v in start["headers"])
        if size > MAX_ERROR_BODY or encoded:
            replaced = True
            await replace(scrubber.oversized(status, path=path))
            return
        chunks.append(chunk)
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        cleaned = scrubber.scrub_body(status, body, path=path)
        if cleaned is None:
            await send(start)
            await send({"type": "http.response.body", "body": body, "more_body": False})
        else:
            await replace(cleaned)

    return guard


def _post_processing(send: Send, plan: Plan) -> Send:
    """Buffer MLflow's (JSON) response, let the plan's hook inspect or rewrite it, then send it."""
    assert plan.on_response is not None
    hook = plan.on_response
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        status = int(start.get("status", 500))
        try:
            body = await hook(status, body)
        except MlflowDenied as exc:
            await send_error(send, exc.status, exc.error_code, exc.message)
            return
        except Exception:
            log.exception("mlflow_response_hook_failed", status=status)
        await send({**start, "headers": _with_length(start.get("headers", []), len(body))})
        await send({"type": "http.response.body", "body": body})

    return capture


async def _send_json(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _mark_audit(scope: Scope, rule: Rule, plan: Plan | None, *, denied: bool = False) -> None:
    state: Any = scope
    if not rule.write and scope["method"] in MUTATING and not denied:
        state[AUDITED_FLAG] = True
        return
    state[AUDIT_KEY] = {
        "action": f"mlflow.{rule.action}",
        "project": plan.project if plan is not None else None,
        "resource": plan.resource if plan is not None else None,
    }
