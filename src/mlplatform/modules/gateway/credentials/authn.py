"""Turning a credential into a `Principal`, fast.

Accepted: `Authorization: Bearer <platform JWT | external OIDC token | API key>`, `Authorization: Basic`
with an API key as the password (any user name), and the browser session cookie (a platform JWT).
Verification results are cached so a request costs a dictionary lookup, not a database round trip:
verified JWTs until they expire, API keys and principals' roles for `auth.credential_cache_seconds`.

Revocation bound: a cached answer is never older than `credential_cache_seconds`, counted from when the
database was read (not from when the answer was cached, nor renewed from records cached meanwhile), so a
revocation, a disabled principal or a role change reaches every replica within that time even if nothing
tells it. In practice it is at once: the replica that makes a change forgets what it cached and tells the
others over Redis (`invalidation.py`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update

from mlplatform.kernel.db import Database, utcnow
from mlplatform.modules.gateway.api import Principal, Role
from mlplatform.modules.gateway.credentials.api_keys import opaque_key, parse_api_key, verify_secret
from mlplatform.modules.gateway.credentials.jwt_tokens import InvalidToken, verify_access_token
from mlplatform.modules.gateway.credentials.keystore import KeyStore
from mlplatform.modules.gateway.credentials.oidc import ExternalIdentity, ExternalProvider, ProviderUnavailable
from mlplatform.modules.gateway.credentials.verification_cache import TTLCache
from mlplatform.modules.gateway.models import ApiKeyRow, Membership, PrincipalRow, Project

log = structlog.get_logger("mlplatform.gateway")

SESSION_COOKIE = "mlp_session"
LAST_USED_WRITE_INTERVAL = 60.0


class AuthenticationFailed(Exception):
    """The credential was presented but is not valid. `reason` is safe to show and to audit."""

    def __init__(self, reason: str, credential_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.credential_id = credential_id


class IdentityProviderDown(Exception):
    """An external identity provider could not be reached to verify a token (503)."""


@dataclass(frozen=True, slots=True)
class _KeyRecord:
    loaded_at: float
    """The authenticator's clock when the database read that produced this record began."""
    id: uuid.UUID
    key_id: str
    secret_hash: str
    principal_id: uuid.UUID
    project: str | None
    role_ceiling: int | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class _PrincipalRecord:
    loaded_at: float
    """The authenticator's clock when the database read that produced this record began."""
    id: uuid.UUID
    kind: str
    name: str
    platform_admin: bool
    disabled: bool
    roles: dict[str, Role]


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    expires_at: float | None
    """Unix time the credential itself expires (JWT `exp`, API key expiry); None: it does not."""
    read_at: float
    """The authenticator's clock when the oldest database read this answer rests on began: reusable until
    `read_at + credential_cache_seconds`, the revocation bound."""


class Authenticator:
    def __init__(
        self,
        database: Database,
        keystore: KeyStore,
        *,
        issuer: str,
        audience: str,
        cache_seconds: float,
        providers: list[ExternalProvider] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.keystore = keystore
        self.issuer = issuer
        self.audience = audience
        self.providers = {p.issuer: p for p in providers or []}
        ttl = max(cache_seconds, 0.001)
        self.cache_seconds = ttl
        self._clock = clock
        """Measures the revocation bound and every cache's expiry (a test moves a fake one)."""
        self._keys: TTLCache[str, _KeyRecord | None] = TTLCache(max_size=50_000, default_ttl=ttl, clock=clock)
        self._principals: TTLCache[uuid.UUID, _PrincipalRecord | None] = TTLCache(
            max_size=50_000, default_ttl=ttl, clock=clock
        )
        self._tokens: TTLCache[str, dict[str, Any]] = TTLCache(max_size=50_000, default_ttl=3600, clock=clock)
        self._external: TTLCache[tuple[str, str], uuid.UUID] = TTLCache(max_size=50_000, default_ttl=ttl, clock=clock)
        self._by_credential: TTLCache[str, Principal] = TTLCache(max_size=50_000, default_ttl=ttl, clock=clock)
        """Whole presented credential -> Principal: the hot path is one dictionary lookup."""
        self._refresh_margin = ttl / 4
        self._verifying: dict[str, asyncio.Future[Principal]] = {}
        """Credentials being verified: concurrent requests with the same one share that verification."""
        self._generation = 0
        """Bumped by every `forget_*`: a verification that started before it is not cached."""
        self._last_used_written: dict[str, float] = {}

    # -- cache invalidation (called by services after changes in this replica) --------------------
    def forget_key(self, key_id: str) -> None:
        self._generation += 1
        self._keys.invalidate(key_id)
        self._by_credential.clear()

    def forget_principal(self, principal_id: uuid.UUID) -> None:
        self._generation += 1
        self._principals.invalidate(principal_id)
        self._by_credential.clear()

    def forget_all(self) -> None:
        self._generation += 1
        self._keys.clear()
        self._principals.clear()
        self._tokens.clear()
        self._by_credential.clear()

    # -- entry points -------------------------------------------------------------------------------
    async def authenticate(self, authorization: str | None, session_cookie: str | None) -> Principal | None:
        """The caller, None when no credential was presented; raises AuthenticationFailed otherwise.

        A credential verified in the last `credential_cache_seconds` (and not past its own expiry) is
        answered from memory; revocations and role changes made here clear that memory at once."""
        credential = authorization or (f"cookie {session_cookie}" if session_cookie else None)
        if credential is None:
            return None
        cached = self._by_credential.get_with_remaining(credential)
        if cached is not None:
            principal, left = cached
            if left < self._refresh_margin and credential not in self._verifying:
                # Renew from the database, not from the key and principal records cached with this entry: those
                # are as old as it is, and would stretch its answer past the revocation bound.
                self._principals.invalidate(principal.id)
                if principal.credential_id is not None:
                    self._keys.invalidate(principal.credential_id)
                self._verify(credential, authorization, session_cookie, refresh=True)
            return principal
        pending = self._verifying.get(credential) or self._verify(credential, authorization, session_cookie)
        return await asyncio.shield(pending)

    def _verify(
        self, credential: str, authorization: str | None, session_cookie: str | None, *, refresh: bool = False
    ) -> asyncio.Future[Principal]:
        """Verify `credential` once, however many requests present it meanwhile, and cache the result.

        With `refresh`, a still-valid cached entry is being renewed ahead of its expiry, in the background, so
        that busy credentials never make requests wait for the database: if the credential turns out to be
        revoked or expired, the entry is dropped; if the check cannot be made, the entry expires as usual."""
        task = asyncio.ensure_future(self._verify_and_cache(credential, authorization, session_cookie))
        self._verifying[credential] = task

        def done(finished: asyncio.Future[Principal]) -> None:
            if self._verifying.get(credential) is finished:
                del self._verifying[credential]
            if finished.cancelled():
                return
            error = finished.exception()  # retrieved here, so an unawaited refresh is never reported as lost
            if refresh and isinstance(error, AuthenticationFailed):
                self._by_credential.invalidate(credential)
            elif refresh and error is not None:
                log.warning("credential_refresh_failed", error=f"{type(error).__name__}: {error}")

        task.add_done_callback(done)
        return task

    async def _verify_and_cache(
        self, credential: str, authorization: str | None, session_cookie: str | None
    ) -> Principal:
        generation = self._generation
        verified = await self._authenticate(authorization, session_cookie)
        if generation != self._generation:
            return verified.principal  # revoked or changed meanwhile: answer this request, cache nothing
        ttl = verified.read_at + self.cache_seconds - self._clock()
        if verified.expires_at is not None:
            ttl = min(ttl, verified.expires_at - time.time())
        self._by_credential.set(credential, verified.principal, ttl)  # nothing is stored when ttl <= 0
        return verified.principal

    async def _authenticate(self, authorization: str | None, session_cookie: str | None) -> _Verified:
        if authorization:
            scheme, _, value = authorization.strip().partition(" ")
            value = value.strip()
            if scheme.lower() == "bearer" and value:
                return await self._from_bearer(value)
            if scheme.lower() == "basic" and value:
                return await self._from_api_key(_basic_password(value))
            raise AuthenticationFailed("unsupported authorization scheme")
        assert session_cookie is not None
        return await self._from_platform_jwt(session_cookie, credential="session")

    async def _from_bearer(self, token: str) -> _Verified:
        if token.count(".") == 2:
            issuer = _unverified_issuer(token)
            provider = self.providers.get(issuer) if issuer else None
            if provider is not None:
                return await self._from_external(provider, token)
            return await self._from_platform_jwt(token)
        return await self._from_api_key(token)

    async def _from_platform_jwt(self, token: str, *, credential: str = "jwt") -> _Verified:
        claims = self._tokens.get(token)
        if claims is None:
            claims = await self._verify_platform_jwt(token)
            self._tokens.set_until(token, claims, float(claims["exp"]))
        elif claims["exp"] < time.time():
            self._tokens.invalidate(token)
            raise AuthenticationFailed("expired")
        principal_id = _uuid(claims["sub"])
        key_record: _KeyRecord | None = None
        key_id = claims.get("mlp_key")
        if isinstance(key_id, str):
            key_record = await self._key(key_id)
            if key_record is None or key_record.principal_id != principal_id:
                raise AuthenticationFailed("token's API key no longer exists", credential_id=key_id)
            self._check_key_usable(key_record)
        record = await self._principal(principal_id)
        expires_at = float(claims["exp"])
        if key_record is not None and key_record.expires_at is not None:
            expires_at = min(expires_at, key_record.expires_at.timestamp())
        principal = _principal(record, key_record, credential=credential, credential_id=str(claims.get("jti")))
        read_at = record.loaded_at if key_record is None else min(record.loaded_at, key_record.loaded_at)
        return _Verified(principal, expires_at, read_at)

    async def _verify_platform_jwt(self, token: str) -> dict[str, Any]:
        try:
            return verify_access_token(self.keystore.ring, token, issuer=self.issuer, audience=self.audience)
        except InvalidToken as exc:
            if exc.reason == "unknown key":
                kid = _unverified_header(token).get("kid")
                if isinstance(kid, str) and await self.keystore.reload_for_unknown_kid(kid):
                    try:
                        return verify_access_token(
                            self.keystore.ring, token, issuer=self.issuer, audience=self.audience
                        )
                    except InvalidToken as again:
                        raise AuthenticationFailed(again.reason) from again
            raise AuthenticationFailed(exc.reason) from exc

    async def from_api_key(self, text: str) -> Principal:
        """Verify an API key (the token endpoint and the browser sign-in use this directly)."""
        return (await self._from_api_key(text)).principal

    async def _from_api_key(self, text: str) -> _Verified:
        parsed = parse_api_key(text) or opaque_key(text)
        if parsed is None:
            raise AuthenticationFailed("malformed credential")
        record = await self._key(parsed.key_id)
        if record is None or not verify_secret(parsed.secret, record.secret_hash):
            raise AuthenticationFailed("unknown or wrong API key", credential_id=parsed.key_id)
        self._check_key_usable(record)
        owner = await self._principal(record.principal_id)
        principal = _principal(owner, record, credential="api_key")
        await self._touch(record)
        expires_at = record.expires_at.timestamp() if record.expires_at is not None else None
        return _Verified(principal, expires_at, min(record.loaded_at, owner.loaded_at))

    async def _from_external(self, provider: ExternalProvider, token: str) -> _Verified:
        try:
            identity = await provider.verify(token)
        except ProviderUnavailable as exc:
            raise IdentityProviderDown(f"identity provider {provider.issuer} is unreachable") from exc
        except InvalidToken as exc:
            raise AuthenticationFailed(exc.reason) from exc
        principal_id = await self._external_principal(identity)
        record = await self._principal(principal_id)
        roles = dict(record.roles)
        for project, role_name in identity.project_roles.items():
            mapped = Role.parse(role_name)
            if project not in roles or roles[project] < mapped:
                roles[project] = mapped
        principal = Principal(
            id=record.id,
            kind="user",
            name=record.name,
            platform_admin=record.platform_admin or identity.platform_admin,
            project_roles=roles,
            credential="oidc",
        )
        return _Verified(principal, float(identity.expires_at), record.loaded_at)

    # -- lookups ----------------------------------------------------------------------------------------
    def _check_key_usable(self, record: _KeyRecord) -> None:
        if record.revoked_at is not None:
            raise AuthenticationFailed("API key revoked", credential_id=record.key_id)
        if record.expires_at is not None and record.expires_at <= utcnow():
            raise AuthenticationFailed("API key expired", credential_id=record.key_id)

    async def _key(self, key_id: str) -> _KeyRecord | None:
        if key_id in self._keys:
            return self._keys.get(key_id)
        loaded_at = self._clock()
        async with self.database.sessionmaker() as session:
            row = await session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_id == key_id))
        record = (
            None
            if row is None
            else _KeyRecord(
                loaded_at=loaded_at,
                id=row.id,
                key_id=row.key_id,
                secret_hash=row.secret_hash,
                principal_id=row.principal_id,
                project=row.project,
                role_ceiling=row.role_ceiling,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
            )
        )
        self._keys.set(key_id, record)
        return record

    async def _principal(self, principal_id: uuid.UUID) -> _PrincipalRecord:
        if principal_id in self._principals:
            cached = self._principals.get(principal_id)
        else:
            cached = await self._load_principal(principal_id)
            self._principals.set(principal_id, cached)
        if cached is None:
            raise AuthenticationFailed("unknown principal")
        if cached.disabled:
            raise AuthenticationFailed("principal disabled")
        return cached

    async def _load_principal(self, principal_id: uuid.UUID) -> _PrincipalRecord | None:
        loaded_at = self._clock()
        async with self.database.sessionmaker() as session:
            row = await session.get(PrincipalRow, principal_id)
            if row is None:
                return None
            memberships = (
                await session.execute(
                    select(Project.name, Membership.role)
                    .join(Membership, Membership.project_id == Project.id)
                    .where(Membership.principal_id == principal_id)
                )
            ).all()
        return _PrincipalRecord(
            loaded_at=loaded_at,
            id=row.id,
            kind=row.kind,
            name=row.name,
            platform_admin=row.platform_admin,
            disabled=row.disabled,
            roles={name: Role(role) for name, role in memberships},
        )

    async def _external_principal(self, identity: ExternalIdentity) -> uuid.UUID:
        """The platform user for an external identity, created on first sight."""
        cache_key = (identity.issuer, identity.subject)
        known = self._external.get(cache_key)
        if known is not None:
            return known
        async with self.database.transaction() as session:
            row = await session.scalar(
                select(PrincipalRow).where(
                    PrincipalRow.external_issuer == identity.issuer,
                    PrincipalRow.external_subject == identity.subject,
                )
            )
            if row is None:
                base = identity.email or f"{identity.subject}@{identity.issuer.split('://', 1)[-1].split('/', 1)[0]}"
                taken = await session.scalar(
                    select(PrincipalRow.id).where(PrincipalRow.kind == "user", PrincipalRow.name == base)
                )
                row = PrincipalRow(
                    kind="user",
                    name=base if taken is None else f"{base}#{uuid.uuid4().hex[:6]}",
                    email=identity.email,
                    external_issuer=identity.issuer,
                    external_subject=identity.subject,
                )
                session.add(row)
                await session.flush()
            principal_id = row.id
        self._external.set(cache_key, principal_id)
        return principal_id

    async def _touch(self, record: _KeyRecord) -> None:
        """Record `last_used_at`, at most once a minute per key per replica (not on every request)."""
        now = self._clock()
        if now - self._last_used_written.get(record.key_id, 0.0) < LAST_USED_WRITE_INTERVAL:
            return
        self._last_used_written[record.key_id] = now
        if len(self._last_used_written) > 100_000:
            self._last_used_written.clear()
        try:
            async with self.database.transaction() as session:
                await session.execute(update(ApiKeyRow).where(ApiKeyRow.id == record.id).values(last_used_at=utcnow()))
        except Exception:
            log.warning("api_key_last_used_not_recorded", key_id=record.key_id, exc_info=True)


def _principal(
    record: _PrincipalRecord, key: _KeyRecord | None, *, credential: str, credential_id: str | None = None
) -> Principal:
    roles = record.roles
    platform_admin = record.platform_admin
    if key is not None and (key.project is not None or key.role_ceiling is not None):
        ceiling = Role(key.role_ceiling) if key.role_ceiling is not None else Role.ADMIN
        if key.project is not None:
            held = Role.ADMIN if record.platform_admin else roles.get(key.project)
            roles = {key.project: min(held, ceiling)} if held is not None else {}
        else:
            roles = {project: min(role, ceiling) for project, role in roles.items()}
        platform_admin = False
    return Principal(
        id=record.id,
        kind="service_account" if record.kind == "service_account" else "user",
        name=record.name,
        platform_admin=platform_admin,
        project_roles=roles,
        credential=credential,
        credential_id=key.key_id if key is not None else credential_id,
    )


def _basic_password(value: str) -> str:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, and the ValueError of text outside ASCII
        raise AuthenticationFailed("malformed basic credentials") from None
    _, sep, password = decoded.partition(":")
    if not sep or not password:
        raise AuthenticationFailed("malformed basic credentials")
    return password


def _segment(token: str, index: int) -> dict[str, Any]:
    try:
        part = token.split(".")[index]
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, IndexError, binascii.Error):
        return {}
    return data if isinstance(data, dict) else {}


def _unverified_issuer(token: str) -> str | None:
    """Only to choose which verifier to use; the chosen verifier checks `iss` again after the signature."""
    issuer = _segment(token, 1).get("iss")
    return issuer if isinstance(issuer, str) else None


def _unverified_header(token: str) -> dict[str, Any]:
    return _segment(token, 0)


def _uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise AuthenticationFailed("token subject is not a platform principal") from None
