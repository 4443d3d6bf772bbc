"""Bad input never costs a 500: every route of the app, fed each kind of bad input, answers a 4xx problem.

The routes come from the app's route table, so a route added later is covered by the same cases. For each
route the test knows its path and query parameters (from Litestar's kwargs model) and its body type (from
the handler's signature: a sample body is built from the schema, then spoiled one value at a time, so a
bad value gets as far into the route as the schema lets it). The caller is a platform admin who is also
the project's admin, so guards let every request through to the input. A case passes when every answer

- is not a 5xx;
- is a 4xx for input no route may accept (NUL, integers beyond int64, JSON nested 200k deep, bytes
  that are not UTF-8, a body over the size limit) - some other inputs (a wrong type where the schema
  allows any JSON, a huge string) may be accepted;
- when refused, is problem+json naming its status, with no SQL, connection URL or traceback in it;
- when refused, changed nothing: a snapshot of the business tables (row counts and contents; the audit
  log, which records refusals, and the outbox deliveries and lineage, which the dispatcher updates on its
  own, are left out) is the same before and after.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from litestar import Litestar
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from litestar.typing import FieldDefinition

from mlplatform.settings import Settings
from tests.support.factories import grant
from tests.support.json_samples import encode, leaves, replaced, sample, with_key
from tests.support.moto_server import temporary_bucket

PROJECT = "p1"
MAX_BODY = 2 * 1024 * 1024
DEEP = 200_000
TOO_DEEP = 100
"""Nesting the platform refuses (its limit is 64) put inside an otherwise valid body."""
BEYOND_INT64 = 2**63
HUGE = 100_000
LEAKS = re.compile(
    r"SELECT \S|INSERT INTO|UPDATE \S+ SET|DELETE FROM|\[SQL:|\[parameters:|Traceback|File \"|"
    r"(?i:postgres(?:ql)?(?:\+\w+)?://|redis://|sqlite(?:\+\w+)?://|background on this error)"
)
"""SQL statements and their parameters, tracebacks, connection URLs."""
SKIPPED_PREFIXES = ("/schema",)
OAUTH_ERRORS = {"/api/v1/auth/token"}
"""Routes whose refusals are RFC 6749 error documents (`application/json` with `error`), as OAuth clients expect."""
UNTRACKED_TABLES = {"gateway_audit_events", "kernel_outbox_deliveries", "gateway_signing_keys"}
"""Written on their own (refusals are audited; the dispatcher and key rotation run in the background)."""
UNTRACKED_PREFIXES = ("lineage_",)
COUNT_ONLY = {"gateway_api_keys", "gateway_principals", "kernel_jobs", "kernel_outbox_events"}
"""Rows touched by every request (last use) or by the background: their number must not change."""


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: HTTPRouteHandler
    query: dict[str, FieldDefinition]
    """Query parameter name -> its type."""
    body: Any | None
    """The body type, None when the route takes none."""
    form: bool

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Walk:
    app: Litestar
    client: AsyncTestClient[Litestar]
    headers: dict[str, str]
    routes: list[Route]
    path_values: dict[str, str]
    database: asyncpg.Connection
    database_url: str
    baseline: dict[str, Any] = field(default_factory=dict)

    async def snapshot(self) -> dict[str, Any]:
        return await table_snapshot(self.database)


def routes_of(app: Litestar) -> list[Route]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(SKIPPED_PREFIXES):
            continue
        for method, (handler, kwargs_model) in sorted(route.route_handler_map.items()):
            if method in {"HEAD", "OPTIONS"}:
                continue
            parameters = handler.parsed_fn_signature.parameters
            query = {
                p.field_alias: parameters[p.field_name]
                for p in kwargs_model.expected_query_params
                if p.field_name in parameters
            }
            data = parameters.get("data")
            body = data.annotation if data is not None and not data.is_subclass_of(bytes) else None
            media = getattr(data.kwarg_definition, "media_type", None) if data is not None else None
            found.append(Route(method, route.path, handler, query, body, media == RequestEncodingType.URL_ENCODED))
    return found


_PARAM = re.compile(r"\{(\w+):(\w+)\}")


def path_of(route: Route, values: dict[str, str], spoil: Callable[[str, str], str | None] | None = None) -> str:
    """The route's path with values filled in; `spoil(name, kind)` may replace one (already URL-encoded)."""

    def value(match: re.Match[str]) -> str:
        name, kind = match.groups()
        if spoil is not None and (spoiled := spoil(name, kind)) is not None:
            return spoiled
        if name == "project":
            return PROJECT
        if name in values:
            return values[name]
        return {"uuid": str(uuid.uuid4()), "int": "1"}.get(kind, "x")

    return _PARAM.sub(value, route.path)


async def table_snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Row count and (for the platform's tables) a digest of the contents of every tracked table."""
    tables = await conn.fetch(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('mlplatform', 'feast', 'mlflow') "
        "AND tablename <> 'alembic_version'"
    )
    parts = []
    for schema, table in tables:
        if table in UNTRACKED_TABLES or table.startswith(UNTRACKED_PREFIXES):
            continue
        qualified = f'"{schema}"."{table}"'
        content = (
            "''"
            if schema != "mlplatform" or table in COUNT_ONLY
            else f"(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {qualified} t)"
        )
        parts.append(f"SELECT '{schema}.{table}', (SELECT count(*) FROM {qualified}), {content}")
    rows = await conn.fetch(" UNION ALL ".join(parts))
    return {row[0]: (row[1], row[2]) for row in rows}


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in before.keys() & after.keys() if before[name] != after[name]]


@pytest.fixture(scope="module")
async def walk(postgres_url: str, redis_url: str, s3_endpoint: str, tmp_path_factory: Any) -> AsyncIterator[Walk]:
    from mlplatform.app import create_app

    async with temporary_bucket(s3_endpoint) as bucket:
        base = Settings(
            data_dir=tmp_path_factory.mktemp("bad-input"),
            database_url=postgres_url,
            redis_url=redis_url,
            storage_url=f"s3://{bucket}/platform",
            s3_endpoint_url=s3_endpoint,
            s3_region="us-east-1",
            log_json=False,
        )
        settings = base.model_copy(
            update={
                "rate_limits": base.rate_limits.model_copy(update={"enabled": False}),
                "http": base.http.model_copy(update={"max_body_bytes": MAX_BODY}),
            }
        )
        app = create_app(settings)
        async with AsyncTestClient(app, timeout=120) as client:
            headers = await grant(app, project=PROJECT, role="admin", platform_admin=True)
            values = await seed(client, headers)
            database = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg", "postgresql"))
            try:
                yield Walk(
                    app=app,
                    client=client,
                    headers=headers,
                    routes=routes_of(app),
                    path_values=values,
                    database=database,
                    database_url=postgres_url,
                    baseline=await table_snapshot(database),
                )
            finally:
                await database.close()


async def seed(client: AsyncTestClient[Litestar], headers: dict[str, str]) -> dict[str, str]:
    """Things named like the walk's path values, so spoiled bodies reach past "not found"."""
    base = f"/api/v1/projects/{PROJECT}"
    created = [
        await client.post(f"{base}/models", json={"name": "x"}, headers=headers),
        await client.post(f"{base}/models/x/versions", json={"model_uri": "s3://bucket/x"}, headers=headers),
        deployment := await client.post(
            f"{base}/deployments", json={"model": "x", "version": 1, "environment": "staging"}, headers=headers
        ),
        await client.post(f"{base}/features/entities", json={"name": "x"}, headers=headers),
        await client.get(f"{base}/experiments", headers=headers),
    ]
    for response in created:
        assert response.status_code in {200, 201}, response.text
    return {"deployment_id": deployment.json()["id"]}


@dataclass(frozen=True)
class Attempt:
    """One request of a case: what is wrong with it, and whether the route may accept it anyway."""

    what: str
    path: str
    params: dict[str, str] | None = None
    content: bytes | None = None
    content_type: str = "application/json"
    must_refuse: bool = True


def nul_in_path(walk: Walk, route: Route) -> Iterator[Attempt]:
    for name, kind in _PARAM.findall(route.path):
        if kind in {"str", "path"}:
            spoiled = path_of(route, walk.path_values, lambda n, _k, name=name: "x%00y" if n == name else None)
            yield Attempt(f"NUL in path parameter {name}", spoiled, content=_plain_body(route))


def int64_in_path(walk: Walk, route: Route) -> Iterator[Attempt]:
    for name, kind in _PARAM.findall(route.path):
        if kind == "int":
            for number in (BEYOND_INT64, -BEYOND_INT64 - 1, 10**40):
                spoiled = path_of(
                    route, walk.path_values, lambda n, _k, name=name, v=number: str(v) if n == name else None
                )
                yield Attempt(f"{number} in path parameter {name}", spoiled, content=_plain_body(route))


def nul_in_query(walk: Walk, route: Route) -> Iterator[Attempt]:
    path = path_of(route, walk.path_values)
    for name in [*route.query, "undeclared"]:
        yield Attempt(f"NUL in query parameter {name}", path, {name: "x\x00y"}, content=_plain_body(route))
    yield Attempt("NUL in a query parameter's name", path, {"x\x00": "1"}, content=_plain_body(route))
    raw = path + "?" + (next(iter(route.query), "q")) + "=%FF%FE"
    yield Attempt("query parameter not UTF-8 once percent-decoded", raw, content=_plain_body(route))


def int64_in_query(walk: Walk, route: Route) -> Iterator[Attempt]:
    path = path_of(route, walk.path_values)
    for name, kind in route.query.items():
        if any(k.is_subclass_of(int) and not k.is_subclass_of(bool) for k in (kind, *kind.inner_types)):
            for number in (BEYOND_INT64, -BEYOND_INT64 - 1):
                yield Attempt(
                    f"{number} in query parameter {name}", path, {name: str(number)}, content=_plain_body(route)
                )


def _plain_body(route: Route) -> bytes | None:
    return encode(sample(route.body)) if route.body is not None and not route.form else None


def body_cases(kind: str) -> Callable[[Walk, Route], Iterator[Attempt]]:
    def attempts(walk: Walk, route: Route) -> Iterator[Attempt]:
        if route.body is None:
            return
        path = path_of(route, walk.path_values)
        if route.form:
            yield from _form_attempts(kind, path)
            return
        document = sample(route.body)
        yield from _BODY_CASES[kind](path, document)

    return attempts


def _form_attempts(kind: str, path: str) -> Iterator[Attempt]:
    form = "application/x-www-form-urlencoded"
    if kind == "nul":
        for name in ("grant_type", "client_id", "client_secret", "scope"):
            fields = {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y", name: "x\x00"}
            yield Attempt(f"NUL in form field {name}", path, content=_form(fields), content_type=form)
    if kind == "utf8":
        yield Attempt("form not UTF-8", path, content=b"grant_type=%FF&client_id=\xff", content_type=form)
    if kind == "huge":
        yield Attempt(
            "huge form field", path, content=_form({"client_id": "x" * HUGE}), content_type=form, must_refuse=False
        )


def _form(fields: dict[str, str]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in fields.items()).encode()


def _nul_body(path: str, document: Any) -> Iterator[Attempt]:
    for where, value in leaves(document):
        if isinstance(value, str):
            yield Attempt(f"NUL in body {where}", path, content=encode(replaced(document, where, value + "\x00")))
        if isinstance(value, dict):
            yield Attempt(f"NUL in a key of body {where}", path, content=encode(with_key(document, where, "k\x00")))
    if isinstance(document, dict):
        yield Attempt("NUL in a top-level key", path, content=encode(with_key(document, (), "\x00")))


def _int64_body(path: str, document: Any) -> Iterator[Attempt]:
    for where, value in leaves(document):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            for number in (BEYOND_INT64, -BEYOND_INT64 - 1):
                yield Attempt(f"{number} at body {where}", path, content=encode(replaced(document, where, number)))


def _wrong_types(path: str, document: Any) -> Iterator[Attempt]:
    yield Attempt("body is a JSON array", path, content=b"[]", must_refuse=False)
    yield Attempt("body is a JSON string", path, content=b'"x"', must_refuse=False)
    yield Attempt("body is not JSON", path, content=b"{not json", must_refuse=True)
    for where, value in leaves(document):
        for wrong in ({}, [], "x", 1.5, True, None):
            if type(wrong) is not type(value):
                spoiled = encode(replaced(document, where, wrong))
                yield Attempt(f"{type(wrong).__name__} at body {where}", path, content=spoiled, must_refuse=False)


def _deep(path: str, document: Any) -> Iterator[Attempt]:
    yield Attempt("a body 200k arrays deep", path, content=b"[" * DEEP + b"]" * DEEP)
    yield Attempt("a body 200k objects deep", path, content=b'{"":' * DEEP + b"1" + b"}" * DEEP)
    nested: Any = "x"
    for _ in range(TOO_DEEP):
        nested = [nested]
    for where, _value in leaves(document):
        yield Attempt(f"nesting too deep at body {where}", path, content=encode(replaced(document, where, nested)))
    unclosed = b"[" * 5000
    yield Attempt("5000 unclosed brackets", path, content=unclosed)


def _utf8(path: str, document: Any) -> Iterator[Attempt]:
    encoded = encode(document)
    for bad in (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"):
        spoiled = encoded.replace(b'"x', b'"' + bad + b"x", 1) if b'"x' in encoded else encoded + bad
        yield Attempt(f"body with bytes {bad!r} that are not UTF-8", path, content=spoiled)


def _huge(path: str, document: Any) -> Iterator[Attempt]:
    for where, value in leaves(document):
        if isinstance(value, str):
            spoiled = encode(replaced(document, where, "x" * HUGE))
            yield Attempt(f"huge string at body {where}", path, content=spoiled, must_refuse=False)
    yield Attempt("a body over the size limit", path, content=b'{"x": "' + b"x" * MAX_BODY + b'"}')


_BODY_CASES: dict[str, Callable[[str, Any], Iterator[Attempt]]] = {
    "nul": _nul_body,
    "int64": _int64_body,
    "types": _wrong_types,
    "deep": _deep,
    "utf8": _utf8,
    "huge": _huge,
}

CASES: dict[str, Callable[[Walk, Route], Iterator[Attempt]]] = {
    "nul-in-path": nul_in_path,
    "int64-in-path": int64_in_path,
    "nul-or-non-utf8-in-query": nul_in_query,
    "int64-in-query": int64_in_query,
    **{f"{kind}-in-body": body_cases(kind) for kind in _BODY_CASES},
}


async def check(walk: Walk, route: Route, attempt: Attempt) -> str | None:
    """What is wrong with the route's answer to `attempt` (None: nothing)."""
    headers = {**walk.headers}
    if attempt.content is not None:
        headers["content-type"] = attempt.content_type
    response = await walk.client.request(
        route.method, attempt.path, params=attempt.params, content=attempt.content, headers=headers
    )
    status = response.status_code
    where = f"{route.name} with {attempt.what}: {status}"
    before, walk.baseline = walk.baseline, await walk.snapshot()
    if status >= 500:
        return f"{where} {response.text[:300]}"
    if status < 400:
        return f"{where} (bad input accepted)" if attempt.must_refuse else None
    content_type = response.headers.get("content-type", "")
    body = response.json()
    oauth = route.path in OAUTH_ERRORS and content_type.startswith("application/json") and "error" in body
    if not oauth and not content_type.startswith("application/problem+json"):
        return f"{where} not problem+json: {content_type}"
    if not oauth and body.get("status") != status:
        return f"{where} problem status {body.get('status')}"
    if (leak := LEAKS.search(response.text)) or walk.database_url in response.text:
        return f"{where} leaks {leak.group(0) if leak else 'the database URL'}: {response.text[:300]}"
    changed = differences(before, walk.baseline)
    if changed:
        return f"{where} changed {changed}"
    return None


@pytest.mark.parametrize("case", list(CASES))
async def test_no_route_answers_bad_input_with_a_5xx(walk: Walk, case: str) -> None:
    failures: list[str] = []
    tried = 0
    for route in walk.routes:
        for attempt in CASES[case](walk, route):
            tried += 1
            problem = await check(walk, route, attempt)
            if problem is not None:
                failures.append(problem)
    assert tried > 0
    assert not failures, f"{len(failures)} of {tried} requests went wrong:\n" + "\n".join(failures)


async def test_the_walk_covers_the_route_table(walk: Walk) -> None:
    """The walk sees every route with a body or parameters (so a new one cannot slip through)."""
    with_body = [r for r in walk.routes if r.body is not None]
    with_query = [r for r in walk.routes if r.query]
    assert len(walk.routes) >= 90
    assert len(with_body) >= 30
    assert len(with_query) >= 20
    assert any(r.form for r in with_body), "the token endpoint's form body"
    assert any(r.path == "/feast/{project:str}/get-online-features" for r in with_body), "an express route"
