"""Tokens from external OpenID Connect providers (Keycloak, Dex, Entra ID, Okta...).

An ``ExternalProvider`` is configured with the provider's issuer URL and the audience the platform expects.
On first use it fetches ``{issuer}/.well-known/openid-configuration`` (whose ``issuer`` must match exactly,
per OIDC Discovery §4.3) and then ``jwks_uri``; the JWK Set is cached for ``jwks_ttl`` seconds. A token
whose ``kid`` is not in the cached set triggers one refetch (at most once per ``min_refresh_interval``
seconds, so random kids cannot make us hammer the IdP) — that is how provider key rotation is followed.
If a scheduled refresh fails but keys are cached, the stale keys keep working for ``max_stale`` seconds.

Accepted algorithms: the provider's advertised ``id_token_signing_alg_values_supported`` intersected with
a safe asymmetric set (RS256/384/512, PS256, ES256/384, EdDSA); never HS* or ``none``. The key's type
must fit the algorithm and a key's own ``alg``/``use`` (when present) must agree, which defeats algorithm
confusion. Symmetric (``oct``) keys in a JWKS are ignored.

Failures: a bad token raises ``InvalidToken`` (answer 401); discovery/JWKS unreachable or unusable raises
``ProviderUnavailable`` (answer 503).

Claims are mapped to an ``ExternalIdentity``: subject, email, groups (from a configurable, possibly dotted,
claim such as ``groups`` or Keycloak's ``realm_access.roles``) and per-project platform roles via
``RoleMapping``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry

from .jwt_tokens import InvalidToken, SingleAlgorithmRegistry, verified_payload

__all__ = [
    "PLATFORM_ADMIN_PROJECT",
    "ROLE_ORDER",
    "SAFE_ALGORITHMS",
    "ExternalIdentity",
    "ExternalProvider",
    "InvalidToken",
    "ProviderUnavailable",
    "RoleMapping",
]

logger = logging.getLogger(__name__)

SAFE_ALGORITHMS: frozenset[str] = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})
_ALG_KTY: dict[str, str] = {
    "RS256": "RSA",
    "RS384": "RSA",
    "RS512": "RSA",
    "PS256": "RSA",
    "ES256": "EC",
    "ES384": "EC",
    "EdDSA": "OKP",
}
_REGISTRIES: dict[str, jws.JWSRegistry] = {alg: SingleAlgorithmRegistry(alg) for alg in SAFE_ALGORITHMS}
_MAX_TOKEN_LENGTH = 16_384
_MAX_DOCUMENT_BYTES = 1_000_000

#: Platform roles, weakest first.
ROLE_ORDER: tuple[str, ...] = ("viewer", "contributor", "maintainer", "admin")
_ROLE_RANK = {role: i for i, role in enumerate(ROLE_ORDER)}
#: Project key meaning "every project"; ``{"*": "admin"}`` makes a platform admin.
PLATFORM_ADMIN_PROJECT = "*"

VerifyKey = RSAKey | ECKey | OKPKey


class ProviderUnavailable(Exception):
    """Discovery or JWKS could not be fetched or used; the gateway should answer 503."""


class RoleMapping:
    """Maps IdP groups (or any list claim) to platform roles per project.

    ``rules`` maps a group name to ``{project: role}``; project ``"*"`` means every project. When several
    groups grant roles on the same project, the strongest role wins. Example::

        RoleMapping({"ml-admins": {"*": "admin"}, "team-a": {"proj-a": "contributor"}})
        .resolve(["team-a"])  ->  {"proj-a": "contributor"}
    """

    def __init__(self, rules: Mapping[str, Mapping[str, str]] | None = None) -> None:
        checked: dict[str, dict[str, str]] = {}
        for group, projects in (rules or {}).items():
            if not isinstance(projects, Mapping):
                raise ValueError(f"role mapping for group {group!r} must be a mapping of project -> role")
            for project, role in projects.items():
                if role not in _ROLE_RANK:
                    raise ValueError(f"unknown role {role!r} for group {group!r} (one of {ROLE_ORDER})")
                if not isinstance(project, str) or not project:
                    raise ValueError(f"invalid project {project!r} for group {group!r}")
            checked[str(group)] = dict(projects)
        self.rules = checked

    def resolve(self, groups: Iterable[str]) -> dict[str, str]:
        """Project -> strongest role granted by any of ``groups``."""
        roles: dict[str, str] = {}
        for group in groups:
            for project, role in self.rules.get(group, {}).items():
                current = roles.get(project)
                if current is None or _ROLE_RANK[role] > _ROLE_RANK[current]:
                    roles[project] = role
        return roles

    @staticmethod
    def is_platform_admin(project_roles: Mapping[str, str]) -> bool:
        return project_roles.get(PLATFORM_ADMIN_PROJECT) == "admin"


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    """A verified external principal."""

    issuer: str
    subject: str
    email: str | None
    groups: tuple[str, ...]
    project_roles: dict[str, str]
    platform_admin: bool
    expires_at: int
    claims: dict[str, Any] = field(repr=False)

    @property
    def roles(self) -> dict[str, str]:
        """Alias of ``project_roles``."""
        return self.project_roles


def _claim_path(claims: Mapping[str, Any], path: str) -> Any:
    """``claims[path]``, or a dotted lookup (``realm_access.roles``) when no top-level claim has that name."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _import_public_key(data: Mapping[str, Any]) -> VerifyKey | None:
    kty = data.get("kty")
    try:
        if kty == "RSA":
            return RSAKey.import_key(dict(data))
        if kty == "EC":
            return ECKey.import_key(dict(data))
        if kty == "OKP":
            return OKPKey.import_key(dict(data))
    except (JoseError, ValueError, TypeError):
        return None
    return None  # "oct" and unknown types are never accepted


class _KeyCache:
    __slots__ = ("by_kid", "fetched_at", "unnamed")

    def __init__(self, by_kid: dict[str, VerifyKey], unnamed: list[VerifyKey], fetched_at: float) -> None:
        self.by_kid = by_kid
        self.unnamed = unnamed
        self.fetched_at = fetched_at


class ExternalProvider:
    """Verifies access/ID tokens issued by one external OIDC provider."""

    def __init__(
        self,
        issuer: str,
        audience: str | Sequence[str],
        *,
        role_mapping: RoleMapping | Mapping[str, Mapping[str, str]] | None = None,
        subject_claim: str = "sub",
        email_claim: str = "email",
        groups_claim: str = "groups",
        name: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
        jwks_ttl: float = 600.0,
        discovery_ttl: float = 86_400.0,
        min_refresh_interval: float = 30.0,
        max_stale: float = 86_400.0,
        failure_backoff: float = 2.0,
        leeway: int = 30,
        allowed_algorithms: Iterable[str] = SAFE_ALGORITHMS,
        allow_insecure_http: bool = False,
    ) -> None:
        self.issuer = issuer  # compared verbatim with "iss"; only the discovery URL drops a trailing "/"
        self.audiences: tuple[str, ...] = (audience,) if isinstance(audience, str) else tuple(audience)
        if not self.audiences:
            raise ValueError("at least one audience is required")
        self.name = name or issuer
        self.role_mapping = role_mapping if isinstance(role_mapping, RoleMapping) else RoleMapping(role_mapping)
        self.subject_claim = subject_claim
        self.email_claim = email_claim
        self.groups_claim = groups_claim
        self.jwks_ttl = jwks_ttl
        self.discovery_ttl = discovery_ttl
        self.min_refresh_interval = min_refresh_interval
        self.max_stale = max_stale
        self.failure_backoff = failure_backoff
        self.leeway = leeway
        self.allow_insecure_http = allow_insecure_http
        self._configured_algorithms = frozenset(allowed_algorithms) & SAFE_ALGORITHMS
        if not self._configured_algorithms:
            raise ValueError("no safe algorithm allowed")
        self._check_url(self.discovery_url)
        self._owns_client = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._discovery: dict[str, Any] | None = None
        self._discovery_at = 0.0
        self._algorithms: frozenset[str] = self._configured_algorithms
        self._keys: _KeyCache | None = None
        self._last_attempt = -float("inf")
        self._last_forced = -float("inf")
        self._last_error: ProviderUnavailable | None = None
        self._lock = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def algorithms(self) -> frozenset[str]:
        """Algorithms currently accepted (discovery ∩ configured ∩ safe)."""
        return self._algorithms

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> ExternalProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- fetching ---------------------------------------------------------------------------------------

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "https" or (
            parts.scheme == "http" and (self.allow_insecure_http or _is_loopback(parts.hostname))
        ):
            return
        raise ValueError(f"refusing non-https OIDC URL: {url}")

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"{self.name}: cannot fetch {url}: {type(error).__name__}") from error
        if response.status_code != 200:
            raise ProviderUnavailable(f"{self.name}: {url} answered HTTP {response.status_code}")
        if len(response.content) > _MAX_DOCUMENT_BYTES:
            raise ProviderUnavailable(f"{self.name}: {url} response too large")
        try:
            data = json.loads(response.content)
        except ValueError as error:
            raise ProviderUnavailable(f"{self.name}: {url} did not return JSON") from error
        if not isinstance(data, dict):
            raise ProviderUnavailable(f"{self.name}: {url} did not return a JSON object")
        return data

    async def _fetch_discovery(self) -> dict[str, Any]:
        doc = await self._get_json(self.discovery_url)
        if doc.get("issuer") != self.issuer:
            raise ProviderUnavailable(f"{self.name}: discovery issuer does not match the configured issuer")
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ProviderUnavailable(f"{self.name}: discovery has no jwks_uri")
        try:
            self._check_url(jwks_uri)
        except ValueError as error:
            raise ProviderUnavailable(f"{self.name}: {error}") from error
        advertised = doc.get("id_token_signing_alg_values_supported")
        algorithms = self._configured_algorithms
        if isinstance(advertised, list) and advertised:
            algorithms = algorithms & frozenset(a for a in advertised if isinstance(a, str))
        if not algorithms:
            raise ProviderUnavailable(f"{self.name}: provider advertises no safe signing algorithm")
        self._algorithms = algorithms
        return doc

    async def _fetch_keys(self) -> _KeyCache:
        now = time.monotonic()
        if self._discovery is None or now - self._discovery_at > self.discovery_ttl:
            self._discovery = await self._fetch_discovery()
            self._discovery_at = now
        jwks = await self._get_json(str(self._discovery["jwks_uri"]))
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise ProviderUnavailable(f"{self.name}: JWKS has no 'keys' list")
        by_kid: dict[str, VerifyKey] = {}
        unnamed: list[VerifyKey] = []
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            key = _import_public_key(entry)
            if key is None:
                continue
            kid = entry.get("kid")
            if isinstance(kid, str) and kid:
                by_kid.setdefault(kid, key)
            else:
                unnamed.append(key)
        return _KeyCache(by_kid, unnamed, time.monotonic())

    async def _refresh(self, *, forced: bool) -> _KeyCache:
        """Refetch discovery (when due) and JWKS. Serialised: concurrent callers share one fetch.

        ``forced`` refreshes (unknown ``kid``) happen at most once per ``min_refresh_interval``; otherwise
        the cached keys are returned unchanged.
        """
        before = self._keys
        async with self._lock:
            current = self._keys
            if current is not None and current is not before:
                return current  # someone else refreshed while we waited
            now = time.monotonic()
            if forced and current is not None:
                if now - self._last_forced < self.min_refresh_interval:
                    return current
                self._last_forced = now
            if current is None and self._last_error is not None and now - self._last_attempt < self.failure_backoff:
                # The provider just failed: do not hit it again on every request.
                raise ProviderUnavailable(str(self._last_error))
            self._last_attempt = now
            try:
                keys = await self._fetch_keys()
            except ProviderUnavailable as error:
                self._last_error = error
                if not forced and current is not None and now - current.fetched_at < self.max_stale:
                    logger.warning("OIDC provider %s unreachable; still using cached keys: %s", self.name, error)
                    return current
                raise
            self._keys = keys
            self._last_error = None
            return keys

    async def _get_keys(self) -> _KeyCache:
        keys = self._keys
        if keys is None:
            return await self._refresh(forced=False)
        if time.monotonic() - keys.fetched_at > self.jwks_ttl:
            if time.monotonic() - self._last_attempt < self.min_refresh_interval:
                return keys  # a scheduled refresh just failed; keep the stale keys for a while
            return await self._refresh(forced=False)
        return keys

    async def refresh(self) -> None:
        """Fetch discovery and JWKS now (e.g. at startup, to fail fast on misconfiguration)."""
        async with self._lock:
            self._discovery = None
            self._last_attempt = time.monotonic()
            keys = await self._fetch_keys()  # raises ProviderUnavailable; cached keys stay as they were
            self._keys = keys
            self._last_error = None

    # -- verification -----------------------------------------------------------------------------------

    @staticmethod
    def _pick(keys: _KeyCache, kid: str | None) -> VerifyKey | None:
        if kid is not None:
            return keys.by_kid.get(kid)
        candidates = [*keys.by_kid.values(), *keys.unnamed]
        return candidates[0] if len(candidates) == 1 else None

    async def verify(self, token: str) -> ExternalIdentity:
        """Verify ``token`` and map it to an identity; raises ``InvalidToken`` or ``ProviderUnavailable``."""
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed")
        try:
            obj = jws.extract_compact(token.encode("ascii"))
            header = obj.headers()
        except (JoseError, ValueError, TypeError, UnicodeEncodeError):
            raise InvalidToken("malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in SAFE_ALGORITHMS:
            raise InvalidToken("unsupported algorithm")
        if "crit" in header or "b64" in header:
            raise InvalidToken("unsupported header")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise InvalidToken("malformed")

        keys = await self._get_keys()
        if alg not in self._algorithms:
            raise InvalidToken("unsupported algorithm")
        key = self._pick(keys, kid)
        if key is None and kid is not None:
            keys = await self._refresh(forced=True)  # maybe the provider rotated its keys
            key = self._pick(keys, kid)
        if key is None:
            raise InvalidToken("unknown key" if kid is not None else "missing key id")
        if key.key_type != _ALG_KTY[alg] or (key.alg is not None and key.alg != alg):
            raise InvalidToken("algorithm mismatch")

        claims = verified_payload(obj, key, _REGISTRIES[alg])
        self._validate_claims(claims)
        return self._identity(claims)

    def _validate_claims(self, claims: dict[str, Any]) -> None:
        aud: ClaimsOption = {"essential": True, "values": list(self.audiences)}
        registry = JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud=aud,
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise InvalidToken("expired") from None
        except MissingClaimError:
            raise InvalidToken("missing claim") from None
        except InvalidClaimError as error:
            reason = {
                "iss": "wrong issuer",
                "aud": "wrong audience",
                "nbf": "not yet valid",
                "iat": "issued in the future",
            }.get(error.claim, "invalid claim")
            raise InvalidToken(reason) from None
        except JoseError:
            raise InvalidToken("invalid claims") from None

    def _identity(self, claims: dict[str, Any]) -> ExternalIdentity:
        subject = _claim_path(claims, self.subject_claim)
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("missing subject")
        email = _claim_path(claims, self.email_claim)
        raw_groups = _claim_path(claims, self.groups_claim)
        if isinstance(raw_groups, str):
            groups: tuple[str, ...] = (raw_groups,)
        elif isinstance(raw_groups, list):
            groups = tuple(g for g in raw_groups if isinstance(g, str))
        else:
            groups = ()
        project_roles = self.role_mapping.resolve(groups)
        return ExternalIdentity(
            issuer=self.issuer,
            subject=subject,
            email=email if isinstance(email, str) else None,
            groups=groups,
            project_roles=project_roles,
            platform_admin=RoleMapping.is_platform_admin(project_roles),
            expires_at=int(claims["exp"]),
            claims=claims,
        )
