"""API keys: format, parsing, hashing and constant-time verification."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from mlplatform.modules.gateway.credentials import api_keys
from mlplatform.modules.gateway.credentials.api_keys import (
    generate_api_key,
    hash_secret,
    looks_like_api_key,
    parse_api_key,
    verify_secret,
)


def test_format() -> None:
    plaintext, key_id, secret_hash = generate_api_key()
    assert re.fullmatch(r"mlp_[a-z2-7]{12}_[A-Za-z0-9]{43}", plaintext)
    assert plaintext.startswith(f"mlp_{key_id}_")
    assert re.fullmatch(r"[0-9a-f]{64}", secret_hash)
    secret = plaintext.rsplit("_", 1)[1]
    assert secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(generate_api_key())


def test_keys_are_unique() -> None:
    keys = [generate_api_key() for _ in range(200)]
    assert len({k.plaintext for k in keys}) == 200
    assert len({k.key_id for k in keys}) == 200


def test_parse_round_trip() -> None:
    generated = generate_api_key()
    parsed = parse_api_key(generated.plaintext)
    assert parsed is not None
    assert parsed.key_id == generated.key_id
    assert hash_secret(parsed.secret) == generated.secret_hash
    assert looks_like_api_key(generated.plaintext)
    assert parsed.secret not in repr(parsed)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mlp_",
        "mlp__",
        "bearer",
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
        "mlp_abcdefghijkl_short",
        "MLP_abcdefghijkl_" + "a" * 43,
        "mlp_ABCDEFGHIJKL_" + "a" * 43,  # key id is lowercase base32
        "mlp_abcdefghijk1_" + "a" * 43,  # '1' is not base32
        "mlp_abcdefghijk_" + "a" * 43,  # 11-char key id
        "mlp_abcdefghijkl_" + "a" * 42 + "-",
        "mlp_abcdefghijkl_" + "a" * 43 + "\n",
        " mlp_abcdefghijkl_" + "a" * 43,
        "mlp_abcdefghijkl_" + "a" * 500,
        "mlp_abcdefghijkl_" + "é" * 43,
    ],
)
def test_parse_rejects_garbage(text: str) -> None:
    assert parse_api_key(text) is None
    assert not looks_like_api_key(text)


def test_verify_secret() -> None:
    generated = generate_api_key()
    parsed = parse_api_key(generated.plaintext)
    assert parsed is not None
    assert verify_secret(parsed.secret, generated.secret_hash) is True
    assert verify_secret(parsed.secret, generated.secret_hash.upper()) is True
    assert (
        verify_secret(parsed.secret[:-1] + ("A" if parsed.secret[-1] != "A" else "B"), generated.secret_hash) is False
    )
    assert verify_secret(parsed.secret, hash_secret("other")) is False
    assert verify_secret(parsed.secret, "") is False
    assert verify_secret(parsed.secret, "not-hex-ünïcode") is False


def test_verify_uses_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", spy)
    generated = generate_api_key()
    parsed = parse_api_key(generated.plaintext)
    assert parsed is not None
    assert verify_secret(parsed.secret, generated.secret_hash)
    assert not verify_secret("wrong", generated.secret_hash)
    assert len(calls) == 2
