"""The app's route table, walked by the tests that must cover every route (including routes added later)."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

_PARAM = re.compile(r"\{(\w+):(\w+)\}")


def concrete(path: str, project: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match.groups()
        if name == "project":
            return project
        if kind == "uuid":
            return str(uuid.uuid4())
        if kind == "int":
            return "1"
        return "x"

    return _PARAM.sub(value, path)


def http_routes(app: Litestar) -> list[tuple[str, str, HTTPRouteHandler]]:
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                if method in {"HEAD", "OPTIONS"}:
                    continue
                found.append((method, route.path, handler))
    return found
