"""Personal and service API keys.

Format: ``mlp_<key_id>_<secret>``

* ``mlp_`` — fixed prefix, so leaked keys are recognisable by secret scanners and in logs;
* ``key_id`` — 12 characters of lowercase RFC 4648 base32 (60 random bits); the public, non-secret part,
  used to look the key up (store it in a unique, indexed column; it may be shown in UIs and audit logs);
* ``secret`` — 43 alphanumeric characters (256 random bits); shown to the user once, never stored.

Only ``SHA-256(secret)`` is stored (hex). A fast, unsalted hash is the right choice here, unlike for
passwords: the secret is 256 bits of CSPRNG output, so there is nothing to brute-force or to look up in a
precomputed table, and slow hashes (bcrypt/argon2) would only make every authenticated request cost
tens of milliseconds. Comparison uses ``hmac.compare_digest``.

The alphabet avoids ``-`` and ``_`` inside the parts so a double-click selects the whole key and the
key survives being used as an HTTP Basic password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import NamedTuple

__all__ = [
    "API_KEY_PREFIX",
    "GeneratedApiKey",
    "ParsedApiKey",
    "generate_api_key",
    "hash_secret",
    "looks_like_api_key",
    "parse_api_key",
    "verify_secret",
]

API_KEY_PREFIX = "mlp_"
KEY_ID_LENGTH = 12
SECRET_LENGTH = 43  # 43 * log2(62) ≈ 256 bits

_KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits
_API_KEY_RE = re.compile(rf"mlp_([a-z2-7]{{{KEY_ID_LENGTH}}})_([A-Za-z0-9]{{{SECRET_LENGTH},128}})")


class GeneratedApiKey(NamedTuple):
    """A new key: give ``plaintext`` to the user once; store ``key_id`` and ``secret_hash``."""

    plaintext: str
    key_id: str
    secret_hash: str

    def __repr__(self) -> str:
        return f"GeneratedApiKey(plaintext='mlp_{self.key_id}_***', key_id={self.key_id!r}, secret_hash=...)"


class ParsedApiKey(NamedTuple):
    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"ParsedApiKey(key_id={self.key_id!r}, secret='***')"


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of the secret part (see the module docstring for why a fast hash is correct)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_api_key() -> GeneratedApiKey:
    """A fresh random key as ``(plaintext, key_id, secret_hash)``."""
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(SECRET_LENGTH))
    return GeneratedApiKey(f"{API_KEY_PREFIX}{key_id}_{secret}", key_id, hash_secret(secret))


def parse_api_key(text: str) -> ParsedApiKey | None:
    """Split a presented key into ``(key_id, secret)``; ``None`` if it is not an API key."""
    if not isinstance(text, str) or len(text) > 256:
        return None
    match = _API_KEY_RE.fullmatch(text)
    if match is None:
        return None
    return ParsedApiKey(match.group(1), match.group(2))


def looks_like_api_key(text: str) -> bool:
    """Whether a bearer credential is an API key (as opposed to a JWT)."""
    return parse_api_key(text) is not None


def verify_secret(secret: str, stored_hash: str) -> bool:
    """Constant-time check of a presented secret against the stored hex hash."""
    computed = hash_secret(secret).encode("ascii")
    try:
        expected = stored_hash.strip().lower().encode("ascii")
    except (AttributeError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(computed, expected)


OPAQUE_KEY_MIN_LENGTH = 16


def opaque_key(text: str) -> ParsedApiKey | None:
    """An operator-chosen key (`MLPLATFORM_BOOTSTRAP_ADMIN_KEY` may be any value of 16+ characters):
    its lookup id is derived from its hash (`op` + 18 hex digits, a shape generated ids never have)."""
    if not isinstance(text, str) or not OPAQUE_KEY_MIN_LENGTH <= len(text) <= 256 or not text.isprintable():
        return None
    return ParsedApiKey("op" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:18], text)
