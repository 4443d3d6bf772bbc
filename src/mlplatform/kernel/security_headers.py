"""Security headers on every response the platform sends (HSTS only in production, where TLS is guaranteed).

Added by the outermost layer (`request_context.py`), so they also reach answers no route produced: unknown
paths, wrong methods, express routes, mounted apps, problems raised before routing.

`Referrer-Policy: same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with the
platform's own form posts and same-origin fetches, which the gateway's origin policy must refuse;
`same-origin` still sends nothing to other sites, and their cross-origin posts still arrive as `null`.
"""

from __future__ import annotations

_BASE = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_WITH_HSTS = (*_BASE, (b"strict-transport-security", b"max-age=31536000; includeSubDomains"))


def security_headers(production: bool) -> tuple[tuple[bytes, bytes], ...]:
    return _WITH_HSTS if production else _BASE
