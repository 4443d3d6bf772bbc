"""What the gateway middleware answers on every route, for the OpenAPI document (`kernel/openapi_problems.py`).

The middleware (`middleware.py`) authenticates every request (401 for no or an invalid credential where
one is needed, 503 when what checks it is down), counts it against a rate limit (429 with `Retry-After`;
`RateLimit-*` counters on the answers it lets through) and refuses a browser session's write from a
foreign origin (403). The project-role guards document their own statuses (`api.py`).
"""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIType, Schema

from mlplatform.kernel.openapi_problems import DocumentedHeader, RouteAnswers
from mlplatform.modules.gateway.audit.recording import MUTATING_METHODS

_SECONDS = Schema(type=OpenAPIType.INTEGER, minimum=0)
RATE_LIMIT_HEADERS = (
    DocumentedHeader("RateLimit-Limit", "Requests allowed per window in this route's rate-limit group.", _SECONDS),
    DocumentedHeader("RateLimit-Remaining", "Requests left in the current window.", _SECONDS),
    DocumentedHeader("RateLimit-Reset", "Seconds until the window resets.", _SECONDS),
)
RETRY_AFTER = DocumentedHeader(
    "Retry-After", "Seconds to wait before retrying.", Schema(type=OpenAPIType.INTEGER, minimum=1)
)
WWW_AUTHENTICATE = DocumentedHeader("WWW-Authenticate", "The authentication scheme to use (`Bearer`).")


def route_answers(handler: HTTPRouteHandler, method: str) -> RouteAnswers:
    opt = handler.opt or {}
    problems = {429: "Over the rate limit of the route's group: retry after `Retry-After` seconds."}
    if not opt.get("own_authorization"):
        problems[401] = (
            "An invalid credential was sent."
            if opt.get("public")
            else "No credentials (a bearer token, an API key or a session), or invalid ones."
        )
        problems[503] = "A component that checks credentials (the database, an external identity provider) is down."
    if method in MUTATING_METHODS:
        problems[403] = "A write with a browser session from a foreign origin."
    return RouteAnswers(
        problems=problems,
        problem_headers={401: (WWW_AUTHENTICATE,), 429: (RETRY_AFTER,)},
        headers=RATE_LIMIT_HEADERS,
    )
