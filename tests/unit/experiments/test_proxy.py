"""The forwarding app and the server process' scope restoration, against a real uvicorn on a Unix socket."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from mlplatform.modules.experiments.hosting.asgi_types import Message, Receive, Scope, Send
from mlplatform.modules.experiments.hosting.proxy import MlflowProxy
from mlplatform.modules.experiments.hosting.server_process import ForwardedScope
from tests.support.wait import wait_until_async


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Describe the request it got; answer in three chunks without a length (with `?sized`, in one with it)."""
    digest = hashlib.sha256()
    size, messages, more = 0, 0, True
    while more:
        message = await receive()
        digest.update(message.get("body", b""))
        size += len(message.get("body", b""))
        messages += 1
        more = message.get("more_body", False)
    seen = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "root_path": scope["root_path"],
        "scheme": scope["scheme"],
        "client": list(scope["client"]) if scope["client"] else None,
        "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        "size": size,
        "sha256": digest.hexdigest(),
    }
    body = json.dumps(seen).encode()
    if scope["query_string"] == b"sized":
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]})
    for part in (body[:10], body[10:20], body[20:]):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "echo.sock")
    server = uvicorn.Server(uvicorn.Config(ForwardedScope(echo), uds=path, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        threading.Event().wait(0.01)
    yield path
    server.should_exit = True
    thread.join(5)


def scope_for(path: str, headers: list[tuple[bytes, bytes]], **extra: Any) -> Scope:
    return {
        "type": "http",
        "method": "PUT",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"a=1&b=x%20y",
        "root_path": "/base/mlflow",
        "scheme": "https",
        "client": ("203.0.113.9", 51000),
        "headers": headers,
        **extra,
    }


async def forward(proxy: MlflowProxy, scope: Scope, chunks: list[bytes]) -> tuple[list[Message], dict[str, Any]]:
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await proxy(scope, receive, send)
    await proxy.aclose()
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent, json.loads(body)


def test_a_chunked_body_streams_through_and_the_scope_is_restored(socket_path: str) -> None:
    proxy = MlflowProxy(socket_path, revive=lambda: None)
    chunks = [bytes([i]) * 100_000 for i in range(5)]
    headers = [
        (b"host", b"platform.example"),
        (b"transfer-encoding", b"chunked"),
        (b"connection", b"keep-alive"),
        (b"x-mlplatform-root-path", b"/forged"),
        (b"authorization", b"Bearer t"),
    ]
    sent, seen = asyncio.run(forward(proxy, scope_for("/mlflow/artifacts/a b/c.txt", headers), chunks))

    assert sent[0]["status"] == 201
    assert [m.get("more_body") for m in sent[1:]][-1] is False
    assert seen["size"] == 500_000
    assert seen["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert seen["path"] == "/mlflow/artifacts/a b/c.txt"
    assert seen["query"] == "a=1&b=x%20y"
    assert seen["root_path"] == "/base/mlflow"  # the platform's, not the client's forged header
    assert seen["scheme"] == "https"
    assert seen["client"] == ["203.0.113.9", 51000]
    assert seen["headers"]["host"] == "platform.example"
    assert seen["headers"]["authorization"] == "Bearer t"
    assert not any(name.startswith("x-mlplatform-") for name in seen["headers"])
    response_headers = dict(sent[0]["headers"])
    assert b"transfer-encoding" not in response_headers
    assert response_headers[b"content-type"] == b"application/json"


def test_a_sized_body_keeps_its_length(socket_path: str) -> None:
    proxy = MlflowProxy(socket_path, revive=lambda: None)
    payload = b'{"experiment_id": "1"}'
    headers = [(b"host", b"h"), (b"content-length", str(len(payload)).encode())]
    _, seen = asyncio.run(forward(proxy, scope_for("/mlflow/api", headers), [payload[:5], payload[5:]]))
    assert seen["headers"]["content-length"] == str(len(payload))
    assert "transfer-encoding" not in seen["headers"]
    assert seen["size"] == len(payload)


def test_an_api_call_goes_both_ways_in_one_piece(socket_path: str) -> None:
    proxy = MlflowProxy(socket_path, revive=lambda: None)
    payload = b'{"run_id": "r", "key": "m", "value": 1.0}'
    headers = [(b"host", b"h"), (b"content-length", str(len(payload)).encode())]
    scope = scope_for("/mlflow/api/2.0/mlflow/runs/log-metric", headers, query_string=b"sized")
    sent, seen = asyncio.run(forward(proxy, scope, [payload]))
    assert seen["size"] == len(payload)
    assert seen["headers"]["content-length"] == str(len(payload))
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert len(bodies) == 1
    assert bodies[0]["more_body"] is False
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(bodies[0]["body"])).encode()


def test_an_unreachable_server_gets_mlflows_503_and_a_restart(tmp_path: Path) -> None:
    revived = threading.Event()
    proxy = MlflowProxy(str(tmp_path / "missing.sock"), revive=revived.set)

    async def run() -> list[Message]:
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await proxy(scope_for("/mlflow/api", [(b"host", b"h")], method="GET"), receive, send)

        async def restarted() -> bool:  # the restart runs in the background
            return revived.is_set()

        await wait_until_async(restarted, timeout=5, message="the restart")
        await proxy.aclose()
        return sent

    sent = asyncio.run(run())
    assert sent[0]["status"] == 503
    assert json.loads(sent[1]["body"])["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert revived.wait(5)
