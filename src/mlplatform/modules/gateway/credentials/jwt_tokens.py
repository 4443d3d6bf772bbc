"""Issue and verify the platform's own JWT access tokens (RFC 9068 style, ``typ: at+jwt``).

Verification is deliberately strict: the header must name an allow-listed asymmetric algorithm
(ES256/EdDSA/Ed25519 — never ``none`` or HS*), carry a ``kid`` the key ring knows, and the algorithm must
be the one that key is bound to, so algorithm-confusion tricks (HS256 keyed with the public key, a foreign
RS256 key, ``alg: none``) fail before any signature maths. Claims ``iss``, ``aud``, ``sub``, ``exp``,
``nbf`` and ``iat`` are all required and validated by ``joserfc.jwt.JWTClaimsRegistry``.

Every failure raises ``InvalidToken`` with a short reason that is safe to log or return in a
``WWW-Authenticate`` error description (it never echoes token content).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from joserfc import jws
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jws import JWSAlgModel
from joserfc.jwt import JWTClaimsRegistry

from .signing_keys import SIGNING_ALGORITHMS, KeyRing

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ALLOWED_ALGORITHMS",
    "RESERVED_CLAIMS",
    "InvalidToken",
    "SingleAlgorithmRegistry",
    "issue_access_token",
    "verify_access_token",
]

ALLOWED_ALGORITHMS: frozenset[str] = SIGNING_ALGORITHMS
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type, not a secret
#: Claims set by ``issue_access_token`` itself; callers cannot override them through ``claims``.
RESERVED_CLAIMS: frozenset[str] = frozenset({"iss", "aud", "sub", "exp", "nbf", "iat", "jti"})
#: Anything longer is not one of our tokens; refuse before parsing.
MAX_TOKEN_LENGTH = 8192


class SingleAlgorithmRegistry(jws.JWSRegistry):
    """A JWS registry that allows exactly one algorithm.

    Same checks as joserfc's (strict headers, size limits), but ``get_alg`` does not emit joserfc's
    per-call ``SecurityWarning`` for the RFC 8037 name "EdDSA" (deprecated in favour of "Ed25519" by
    RFC 9864): with a one-entry allow-list and the key's curve checked, there is nothing unsafe about it,
    and a warning per token would flood the logs.
    """

    def __init__(self, algorithm: str) -> None:
        if algorithm not in self.algorithms or algorithm == "none":
            raise ValueError(f"unsupported algorithm {algorithm!r}")
        super().__init__(algorithms=[algorithm])
        self.algorithm = algorithm

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != self.algorithm:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


# One registry per algorithm: verification only ever allows the algorithm the looked-up key is bound to.
_REGISTRIES: dict[str, jws.JWSRegistry] = {alg: SingleAlgorithmRegistry(alg) for alg in ALLOWED_ALGORITHMS}
# Header parameters our tokens may carry. Notably absent: "crit", "b64" (RFC 7797), "jku", "jwk", "x5u", "x5c"
# (keys must come from the ring, never from the token).
_ALLOWED_HEADER_PARAMS = frozenset({"alg", "kid", "typ"})


class InvalidToken(Exception):
    """The token is not acceptable. ``reason`` is short and non-secret (e.g. "expired", "unknown key")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def issue_access_token(
    keyring: KeyRing,
    *,
    issuer: str,
    audience: str,
    subject: str,
    claims: Mapping[str, Any],
    ttl_seconds: int,
    now: int | None = None,
) -> tuple[str, int]:
    """Sign a short-lived access token with the ring's active key.

    ``claims`` are extra private claims (e.g. ``scope``, ``roles``, ``client_id``); they cannot override the
    registered claims. Returns ``(token, exp)`` where ``exp`` is the absolute expiry (Unix seconds) — the
    OAuth ``expires_in`` is simply ``ttl_seconds``.
    """
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")
    clash = RESERVED_CLAIMS.intersection(claims)
    if clash:
        raise ValueError(f"claims may not set registered claims: {sorted(clash)}")
    key = keyring.active
    iat = int(time.time()) if now is None else now
    exp = iat + int(ttl_seconds)
    payload: dict[str, Any] = {
        **claims,
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "jti": secrets.token_urlsafe(16),
    }
    header = {"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    token = jws.serialize_compact(header, body, key.key, registry=_REGISTRIES[key.alg])
    return token, exp


def _claim_error_reason(error: InvalidClaimError) -> str:
    return {
        "iss": "wrong issuer",
        "aud": "wrong audience",
        "nbf": "not yet valid",
        "iat": "issued in the future",
        "exp": "invalid expiry",
        "sub": "invalid subject",
    }.get(error.claim, "invalid claim")


def verified_payload(obj: Any, key: Any, registry: jws.JWSRegistry) -> dict[str, Any]:
    """Check a parsed compact JWS's signature with `key` under `registry` (one algorithm) and return its
    JSON object payload; any failure is an `InvalidToken`."""
    try:
        valid = jws.validate_compact(obj, key, registry=registry)
    except (JoseError, ValueError, TypeError):
        valid = False
    if not valid:
        raise InvalidToken("bad signature")
    try:
        claims = json.loads(obj.payload)
    except (TypeError, ValueError):
        raise InvalidToken("malformed") from None
    if not isinstance(claims, dict):
        raise InvalidToken("malformed")
    return claims


def verify_access_token(
    keyring: KeyRing,
    token: str,
    *,
    issuer: str,
    audience: str,
    leeway: int = 30,
    now: int | None = None,
) -> dict[str, Any]:
    """Verify a platform access token and return its claims, or raise ``InvalidToken``."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed")
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidToken("malformed") from None

    # 1. Parse the header without trusting it, and pick the key from OUR ring.
    try:
        obj = jws.extract_compact(raw)
        header = obj.headers()
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("malformed") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise InvalidToken("unsupported algorithm")
    if not set(header) <= _ALLOWED_HEADER_PARAMS:
        raise InvalidToken("unsupported header")
    if header.get("typ", ACCESS_TOKEN_TYPE) != ACCESS_TOKEN_TYPE:
        raise InvalidToken("wrong token type")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("missing key id")
    key = keyring.get(kid)
    if key is None:
        raise InvalidToken("unknown key")
    if key.alg != alg:
        raise InvalidToken("algorithm mismatch")

    # 2. Signature, with only that key's algorithm allowed; 3. claims.
    claims = verified_payload(obj, key.key, _REGISTRIES[alg])
    registry = JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
        nbf={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise InvalidToken("expired") from None
    except MissingClaimError:
        raise InvalidToken("missing claim") from None
    except InvalidClaimError as error:
        raise InvalidToken(_claim_error_reason(error)) from None
    except JoseError:
        raise InvalidToken("invalid claims") from None
    return claims
