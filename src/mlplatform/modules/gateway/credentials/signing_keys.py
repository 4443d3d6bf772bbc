"""Platform signing keys for access tokens, and the key ring used to sign and verify them.

The platform signs its own JWT access tokens with an asymmetric key (ES256 by default, EdDSA/Ed25519 on
request), created on first start and persisted by the caller as a private JSON dict (``SigningKey.to_dict``
or ``KeyRing.to_dict``). ``KeyRing.rotate()`` makes a new key active and keeps the previous ones available
for verification, so tokens signed before a rotation stay valid until they expire; ``KeyRing.prune()``
drops retired keys once no token they signed can still be valid.

Only public keys ever leave the ring through ``jwks()`` (served at ``/.well-known/jwks.json``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, OKPKey

__all__ = [
    "SIGNING_ALGORITHMS",
    "KeyRing",
    "SigningKey",
    "generate_signing_key",
]

#: Algorithms the platform signs with (and the only ones it accepts for its own tokens).
#: "EdDSA" is the RFC 8037 name understood by most JWT libraries; "Ed25519" is the fully specified
#: RFC 9864 name for the same signature.
SIGNING_ALGORITHMS: frozenset[str] = frozenset({"ES256", "EdDSA", "Ed25519"})

SigningJWK = ECKey | OKPKey


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_dt(value: Any) -> datetime | None:
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _import_private_jwk(data: Mapping[str, Any]) -> SigningJWK:
    kty = data.get("kty")
    key: SigningJWK
    if kty == "EC":
        key = ECKey.import_key(dict(data))
    elif kty == "OKP":
        key = OKPKey.import_key(dict(data))
    else:
        raise ValueError(f"unsupported signing key type: {kty!r}")
    if not key.is_private:
        raise ValueError("signing key JWK has no private part")
    return key


@dataclass(frozen=True, eq=False)
class SigningKey:
    """One asymmetric signing key.

    ``private_jwk`` is the full private JWK (including ``kid``, ``alg`` and ``use``); keep it out of logs
    (it is excluded from ``repr``). ``retired_at`` is set when the key stops being the active key; a
    retired key still verifies tokens until the ring prunes it.
    """

    kid: str
    alg: str
    private_jwk: dict[str, Any] = field(repr=False)
    created_at: datetime
    retired_at: datetime | None = None
    _key: SigningJWK = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.alg not in SIGNING_ALGORITHMS:
            raise ValueError(f"unsupported signing algorithm: {self.alg!r}")
        key = _import_private_jwk(self.private_jwk)
        if key.kid != self.kid:
            raise ValueError("kid does not match the JWK's kid")
        if key.alg is not None and key.alg != self.alg:
            raise ValueError("alg does not match the JWK's alg")
        expected_kty = "EC" if self.alg == "ES256" else "OKP"
        if key.key_type != expected_kty:
            raise ValueError(f"{self.alg} needs a {expected_kty} key, got {key.key_type}")
        if self.alg == "ES256" and key.curve_name != "P-256":
            raise ValueError("ES256 needs a P-256 key")
        if self.alg != "ES256" and key.curve_name != "Ed25519":
            raise ValueError(f"{self.alg} needs an Ed25519 key")
        object.__setattr__(self, "_key", key)

    @property
    def key(self) -> SigningJWK:
        """The joserfc key object (private; it also verifies)."""
        return self._key

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK with ``kid``, ``alg`` and ``use`` — safe to publish."""
        data = dict(self._key.as_dict(private=False))
        data.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return data

    def retire(self, at: datetime | None = None) -> SigningKey:
        """A copy of this key marked retired (no-op if it already is)."""
        if self.retired_at is not None:
            return self
        return replace(self, retired_at=at or _now())

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict holding the PRIVATE key; store it encrypted or in a protected row."""
        return {
            "kid": self.kid,
            "alg": self.alg,
            "jwk": dict(self.private_jwk),
            "created_at": self.created_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SigningKey:
        created_at = _parse_dt(data.get("created_at"))
        return cls(
            kid=str(data["kid"]),
            alg=str(data["alg"]),
            private_jwk=dict(data["jwk"]),
            created_at=created_at or _now(),
            retired_at=_parse_dt(data.get("retired_at")),
        )


def generate_signing_key(alg: str = "ES256", *, now: datetime | None = None) -> SigningKey:
    """Create a fresh signing key: ES256 (P-256) or EdDSA/Ed25519. The ``kid`` is the RFC 7638 thumbprint."""
    params: dict[str, Any] = {"alg": alg, "use": "sig"}
    key: SigningJWK
    if alg == "ES256":
        key = ECKey.generate_key("P-256", parameters=params, auto_kid=True)  # type: ignore[arg-type]
    elif alg in ("EdDSA", "Ed25519"):
        key = OKPKey.generate_key("Ed25519", parameters=params, auto_kid=True)  # type: ignore[arg-type]
    else:
        raise ValueError(f"unsupported signing algorithm: {alg!r} (use one of {sorted(SIGNING_ALGORITHMS)})")
    jwk = dict(key.as_dict(private=True))
    return SigningKey(kid=str(jwk["kid"]), alg=alg, private_jwk=jwk, created_at=now or _now())


class KeyRing:
    """The active signing key plus retired keys that still verify.

    Mutations replace the internal index in one assignment, so a concurrent reader never sees a
    half-rotated ring.
    """

    def __init__(self, active: SigningKey, previous: Iterable[SigningKey] = ()) -> None:
        if active.is_retired:
            raise ValueError("the active key cannot be retired")
        prev = [k if k.is_retired else k.retire(active.created_at) for k in previous if k.kid != active.kid]
        self._set(active, prev)

    def _set(self, active: SigningKey, previous: list[SigningKey]) -> None:
        index = {k.kid: k for k in previous}
        index[active.kid] = active
        self._state: tuple[SigningKey, tuple[SigningKey, ...], dict[str, SigningKey]] = (
            active,
            tuple(previous),
            index,
        )

    @classmethod
    def generate(cls, alg: str = "ES256") -> KeyRing:
        """A new ring with one freshly generated key (first start)."""
        return cls(generate_signing_key(alg))

    @property
    def active(self) -> SigningKey:
        return self._state[0]

    @property
    def previous(self) -> tuple[SigningKey, ...]:
        """Retired keys still accepted for verification, most recently retired first."""
        return self._state[1]

    def __iter__(self) -> Iterator[SigningKey]:
        yield self.active
        yield from self.previous

    def __len__(self) -> int:
        return len(self._state[2])

    def get(self, kid: str) -> SigningKey | None:
        """The key (active or retired) with this ``kid``, if the ring still holds it."""
        return self._state[2].get(kid)

    def rotate(self, alg: str | None = None, *, now: datetime | None = None) -> SigningKey:
        """Make a new key active; the old active key is retired but still verifies. Returns the new key."""
        at = now or _now()
        old_active, previous, _ = self._state
        new_key = generate_signing_key(alg or old_active.alg, now=at)
        self._set(new_key, [old_active.retire(at), *previous])
        return new_key

    def remove(self, kid: str) -> bool:
        """Drop a retired key immediately (e.g. a compromised one). The active key cannot be removed."""
        active, previous, _ = self._state
        if kid == active.kid:
            raise ValueError("cannot remove the active key; rotate first")
        kept = [k for k in previous if k.kid != kid]
        if len(kept) == len(previous):
            return False
        self._set(active, kept)
        return True

    def prune(self, max_token_age: timedelta | float, *, now: datetime | None = None) -> list[SigningKey]:
        """Drop retired keys that were retired longer ago than ``max_token_age`` (the longest access-token
        lifetime plus verification leeway): no token they signed can still be valid. Returns dropped keys."""
        age = max_token_age if isinstance(max_token_age, timedelta) else timedelta(seconds=max_token_age)
        cutoff = (now or _now()) - age
        active, previous, _ = self._state
        kept: list[SigningKey] = []
        dropped: list[SigningKey] = []
        for k in previous:
            assert k.retired_at is not None
            (dropped if k.retired_at <= cutoff else kept).append(k)
        if dropped:
            self._set(active, kept)
        return dropped

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWK Set (active key first). Never contains private parameters."""
        return {"keys": [k.public_jwk() for k in self]}

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict with the PRIVATE keys, for persistence."""
        return {"active": self.active.kid, "keys": [k.to_dict() for k in self]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyRing:
        keys = [SigningKey.from_dict(d) for d in data["keys"]]
        active_kid = data.get("active")
        actives = [k for k in keys if k.kid == active_kid] if active_kid else [k for k in keys if not k.is_retired]
        if len(actives) != 1:
            raise ValueError("key ring needs exactly one active key")
        active = actives[0]
        if active.retired_at is not None:
            active = replace(active, retired_at=None)
        previous = sorted(
            (k for k in keys if k.kid != active.kid),
            key=lambda k: k.retired_at or k.created_at,
            reverse=True,
        )
        return cls(active, previous)
