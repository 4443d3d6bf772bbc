"""The express middleware: declined or oversized requests reach the app with their body intact; errors
become the platform's problem+json."""

from __future__ import annotations

import json
from typing import Any

from mlplatform.kernel.errors import RateLimited
from mlplatform.kernel.express import ExpressAnswer, ExpressRoute, compile_path, express_middleware


class Recorder:
    """The app behind the middleware (stands for Litestar): echoes the body it receives."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def call(app: Any, path: str, chunks: list[bytes], method: str = "POST") -> tuple[int, dict[bytes, bytes], bytes]:
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": [], "state": {}}
    await app(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


async def handler(scope: Any, body: bytes, params: dict[str, str]) -> ExpressAnswer | None:
    if body == b"decline":
        return None
    if body == b"limited":
        raise RateLimited("slow down", headers={"Retry-After": "3"})
    if body == b"boom":
        raise ValueError("a bug")
    return ExpressAnswer(body=json.dumps({"project": params["project"], "body": body.decode()}).encode())


def app_with(recorder: Recorder, limit: int = 100) -> Any:
    route = ExpressRoute("POST", "/feast/{project:str}/read", handler)
    return express_middleware(recorder, [route], max_body_bytes=limit)


def test_templates_match_whole_segments() -> None:
    pattern = compile_path("/api/v1/projects/{project:str}/features/online")
    match = pattern.fullmatch("/api/v1/projects/demo/features/online")
    assert match is not None
    assert match.groupdict() == {"project": "demo"}
    assert pattern.fullmatch("/api/v1/projects/a/b/features/online") is None


async def test_answers_declines_and_other_routes() -> None:
    recorder = Recorder()
    app = app_with(recorder)
    status, headers, body = await call(app, "/feast/demo/read", [b"he", b"llo"])
    assert status == 200
    assert json.loads(body) == {"project": "demo", "body": "hello"}
    assert headers[b"content-length"] == str(len(body)).encode()
    assert recorder.bodies == []

    assert (await call(app, "/feast/demo/read", [b"decl", b"ine"]))[0] == 299
    assert (await call(app, "/feast/demo/read", [b"x" * 60, b"y" * 60]))[0] == 299, "over the limit: full stack"
    assert (await call(app, "/feast/demo/read", [b"get"], method="GET"))[0] == 299
    assert (await call(app, "/feast/demo/other", [b"hello"]))[0] == 299
    assert recorder.bodies == [b"decline", b"x" * 60 + b"y" * 60, b"get", b"hello"], "bodies replayed intact"


async def test_errors_are_problems() -> None:
    app = app_with(Recorder())
    status, headers, body = await call(app, "/feast/demo/read", [b"limited"])
    assert status == 429
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"retry-after"] == b"3"
    problem = json.loads(body)
    assert problem["status"] == 429
    assert problem["detail"] == "slow down"
    assert problem["instance"] == "/feast/demo/read"

    status, headers, body = await call(app, "/feast/demo/read", [b"boom"])
    assert status == 500
    assert "a bug" not in body.decode(), "internals stay in the log"
    assert json.loads(body)["status"] == 500


async def test_bad_input_is_declined_so_the_full_stack_refuses_it() -> None:
    """NUL, integers beyond int64, non-UTF-8 and too-deep bodies, and NUL in the path go to the full stack,
    whose input guard answers them like on any other route."""
    recorder = Recorder()
    app = app_with(recorder, limit=10_000)
    bad = [b'{"a": "x\\u0000"}', b'{"a": 99999999999999999999}', b'{"a": "\xff"}', b"[" * 1000 + b"]" * 1000]
    for body in bad:
        assert (await call(app, "/feast/demo/read", [body]))[0] == 299, body[:20]
    assert (await call(app, "/feast/de\x00mo/read", [b"hello"]))[0] == 299
    assert recorder.bodies == [*bad, b"hello"]
    assert (await call(app, "/feast/demo/read", [b'{"a": "fine"}']))[0] == 200


async def test_an_express_5xx_is_generic() -> None:
    from mlplatform.kernel.errors import SERVER_ERROR_DETAIL, Unavailable

    async def down(scope: Any, body: bytes, params: dict[str, str]) -> ExpressAnswer | None:
        raise Unavailable("Redis at 10.1.2.3:6379 is unreachable", component="redis")

    app = express_middleware(Recorder(), [ExpressRoute("POST", "/read", down)], max_body_bytes=100)
    status, _headers, body = await call(app, "/read", [b"{}"])
    assert status == 503
    problem = json.loads(body)
    assert problem["component"] == "redis"
    assert "10.1.2.3" not in body.decode()
    status, _headers, body = await call(app_with(Recorder()), "/feast/demo/read", [b"boom"])
    assert json.loads(body)["detail"] == SERVER_ERROR_DETAIL
