"""Which web pages may make a browser sign in, or write with its session cookie (CSRF and login CSRF).

A browser attaches the session cookie to requests that another site's page makes it send, and it will post
a sign-in form to the platform from any page: a foreign page could then act as the signed-in user, or sign
the user in as the attacker (login CSRF). Browsers send `Origin` with every cross-origin POST, PUT, PATCH
and DELETE, which pages can not forge, so a state-changing request authenticated by the session cookie, and
every sign-in or sign-out, is accepted only from:

- the platform's own origin: `server.public_url`, or the request's own `Host` (the page was served by it);
- the origins in `http.cors_origins` (pages of other sites the operator trusts).

`Origin: null` (sandboxed frames, some redirects) is refused; without `Origin` the `Referer`'s origin is
checked instead. A request that carries neither was not sent by a web page (a script, the CLI) and is let
through. Requests with an `Authorization` header are not affected: another site's page can not make the
browser attach one. The MLflow mount checks its own requests the same way (`experiments/authz/gate.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from litestar.types import Scope

SAME_ORIGIN = {"same_origin": True}
"""Route `opt` of a browser route that only allowed pages may call, whatever the credential (sign-in, sign-out)."""


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased ("" when it has none)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


class OriginPolicy:
    def __init__(self, *, public_url: str | None, trusted: Iterable[str]) -> None:
        candidates = [public_url, *trusted] if public_url else list(trusted)
        self.allowed = frozenset(o for o in (origin_of(u) for u in candidates if u and u != "*") if o)

    def foreign_origin(self, scope: Scope) -> str | None:
        """The page's origin when it is not allowed to make this request, None when it is (or no page made it)."""
        origin: str | None = None
        referer: str | None = None
        host = ""
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value.decode("latin-1")
            elif key == b"referer":
                referer = value.decode("latin-1")
            elif key == b"host":
                host = value.decode("latin-1").lower()
        if origin is None:
            if referer is None:
                return None
            origin = origin_of(referer) or referer
        normalised = origin_of(origin)
        if normalised in self.allowed:
            return None
        parts = urlsplit(normalised) if normalised else None
        if parts is not None and parts.scheme in {"http", "https"} and host and parts.netloc == host:
            return None  # the platform's own page, served at the address the browser used
        return origin[:200] or "null"
