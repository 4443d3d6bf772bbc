"""Security headers on every routed response (HSTS only in production, where TLS is guaranteed)."""

from __future__ import annotations

_BASE = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_WITH_HSTS = (*_BASE, (b"strict-transport-security", b"max-age=31536000; includeSubDomains"))


def security_headers(production: bool) -> tuple[tuple[bytes, bytes], ...]:
    return _WITH_HSTS if production else _BASE
