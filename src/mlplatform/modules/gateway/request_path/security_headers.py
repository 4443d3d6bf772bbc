"""Security headers on every routed response (HSTS only in production, where TLS is guaranteed).

`Referrer-Policy: same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with the
platform's own form posts and same-origin fetches, which the origin policy (`origin_policy.py`) must refuse;
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
