"""Platform access tokens: round trip, rotation, and the usual token attacks (all must raise InvalidToken)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from mlplatform.modules.gateway.credentials.jwt_tokens import (
    InvalidToken,
    SingleAlgorithmRegistry,
    issue_access_token,
    verify_access_token,
)
from mlplatform.modules.gateway.credentials.signing_keys import KeyRing, SigningKey, generate_signing_key

ISS = "https://mlp.example.test"
AUD = "mlplatform"


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64json(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")))


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISS, "aud": AUD, "sub": "user-1", "iat": now, "nbf": now, "exp": now + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(key: Any, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """Sign arbitrary header/payload with joserfc (for crafting hostile-but-validly-signed tokens)."""
    return jws.serialize_compact(header, json.dumps(payload), key, registry=SingleAlgorithmRegistry(header["alg"]))


@pytest.fixture(params=["ES256", "EdDSA"])
def ring(request: pytest.FixtureRequest) -> KeyRing:
    return KeyRing.generate(request.param)


def verify(ring: KeyRing, token: str, **kw: Any) -> dict[str, Any]:
    return verify_access_token(ring, token, issuer=kw.pop("issuer", ISS), audience=kw.pop("audience", AUD), **kw)


def assert_rejected(ring: KeyRing, token: str, reason: str, **kw: Any) -> None:
    with pytest.raises(InvalidToken) as info:
        verify(ring, token, **kw)
    assert info.value.reason == reason


# -- happy paths ------------------------------------------------------------------------------------------


def test_round_trip(ring: KeyRing) -> None:
    before = int(time.time())
    token, exp = issue_access_token(
        ring,
        issuer=ISS,
        audience=AUD,
        subject="sa-7",
        claims={"scope": "runs:write", "roles": {"p": "admin"}},
        ttl_seconds=300,
    )
    assert before + 300 <= exp <= int(time.time()) + 300
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": ring.active.alg, "kid": ring.active.kid, "typ": "at+jwt"}
    got = verify(ring, token)
    assert got["sub"] == "sa-7"
    assert got["scope"] == "runs:write"
    assert got["roles"] == {"p": "admin"}
    assert got["exp"] == exp
    assert got["nbf"] == got["iat"]
    assert isinstance(got["jti"], str)


def test_no_security_warning_per_token(ring: KeyRing) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=60)
        verify(ring, token)


def test_audience_list_containing_ours_is_accepted(ring: KeyRing) -> None:
    key = ring.active
    token = sign(key.key, {"alg": key.alg, "kid": key.kid}, claims(aud=["other", AUD]))
    assert verify(ring, token)["sub"] == "user-1"


def test_issue_refuses_to_override_registered_claims(ring: KeyRing) -> None:
    with pytest.raises(ValueError, match="registered claims"):
        issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={"exp": 9_999_999_999}, ttl_seconds=60)
    with pytest.raises(ValueError, match="ttl"):
        issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=0)


def test_leeway_tolerates_small_clock_skew(ring: KeyRing) -> None:
    now = int(time.time())
    token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=60, now=now + 10)
    assert verify(ring, token)["sub"] == "u"  # nbf/iat 10 s ahead: within the 30 s default leeway
    assert_rejected(ring, token, "issued in the future", leeway=0)


# -- attacks ---------------------------------------------------------------------------------------------


def test_expired(ring: KeyRing) -> None:
    token, _ = issue_access_token(
        ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=60, now=int(time.time()) - 3600
    )
    assert_rejected(ring, token, "expired")


def test_not_yet_valid(ring: KeyRing) -> None:
    key = ring.active
    token = sign(key.key, {"alg": key.alg, "kid": key.kid}, claims(nbf=int(time.time()) + 3600))
    assert_rejected(ring, token, "not yet valid")


def test_alg_none(ring: KeyRing) -> None:
    header = {"alg": "none", "kid": ring.active.kid, "typ": "at+jwt"}
    token = f"{b64json(header)}.{b64json(claims())}."
    assert_rejected(ring, token, "unsupported algorithm")
    header["alg"] = "None"
    assert_rejected(ring, f"{b64json(header)}.{b64json(claims())}.", "unsupported algorithm")


@pytest.mark.parametrize("secret_form", ["pem", "jwk-json", "x-coordinate"])
def test_hs256_signed_with_public_key(ring: KeyRing, secret_form: str) -> None:
    """Classic confusion: HMAC keyed with the (public!) verification key material."""
    key = ring.active
    public = key.public_jwk()
    secret = {
        "pem": key.key.as_pem(private=False),
        "jwk-json": json.dumps(public).encode(),
        "x-coordinate": base64.urlsafe_b64decode(public["x"] + "=="),
    }[secret_form]
    signing_input = f"{b64json({'alg': 'HS256', 'kid': key.kid, 'typ': 'at+jwt'})}.{b64json(claims())}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert_rejected(ring, f"{signing_input}.{b64(sig)}", "unsupported algorithm")


def test_rs256_from_foreign_key(ring: KeyRing) -> None:
    foreign = RSAKey.generate_key(2048)
    # claiming our kid ...
    token = sign(foreign, {"alg": "RS256", "kid": ring.active.kid}, claims())
    assert_rejected(ring, token, "unsupported algorithm")
    # ... or its own
    token = sign(foreign, {"alg": "RS256", "kid": "attacker"}, claims())
    assert_rejected(ring, token, "unsupported algorithm")


def test_same_alg_foreign_key_claiming_our_kid(ring: KeyRing) -> None:
    foreign = generate_signing_key(ring.active.alg)
    token = sign(foreign.key, {"alg": ring.active.alg, "kid": ring.active.kid}, claims())
    assert_rejected(ring, token, "bad signature")


def test_alg_that_does_not_match_the_keys_alg(ring: KeyRing) -> None:
    other_alg = "EdDSA" if ring.active.alg == "ES256" else "ES256"
    foreign = generate_signing_key(other_alg)
    token = sign(foreign.key, {"alg": other_alg, "kid": ring.active.kid}, claims())
    assert_rejected(ring, token, "algorithm mismatch")


def test_wrong_issuer(ring: KeyRing) -> None:
    token, _ = issue_access_token(
        ring, issuer="https://evil.test", audience=AUD, subject="u", claims={}, ttl_seconds=60
    )
    assert_rejected(ring, token, "wrong issuer")


def test_wrong_audience(ring: KeyRing) -> None:
    token, _ = issue_access_token(ring, issuer=ISS, audience="another-service", subject="u", claims={}, ttl_seconds=60)
    assert_rejected(ring, token, "wrong audience")


def test_unknown_kid(ring: KeyRing) -> None:
    stranger = KeyRing.generate(ring.active.alg)
    token, _ = issue_access_token(stranger, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=60)
    assert_rejected(ring, token, "unknown key")


def test_missing_kid(ring: KeyRing) -> None:
    key = ring.active
    token = sign(key.key, {"alg": key.alg, "typ": "at+jwt"}, claims())
    assert_rejected(ring, token, "missing key id")


def test_tampered_payload(ring: KeyRing) -> None:
    token, _ = issue_access_token(
        ring, issuer=ISS, audience=AUD, subject="alice", claims={"scope": "read"}, ttl_seconds=60
    )
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["sub"] = "admin"
    body["scope"] = "admin"
    assert_rejected(ring, f"{header}.{b64json(body)}.{signature}", "bad signature")


def test_tampered_header_and_truncated_signature(ring: KeyRing) -> None:
    token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=60)
    header, payload, signature = token.split(".")
    assert_rejected(ring, f"{header}.{payload}.{signature[:-4]}", "bad signature")
    assert_rejected(ring, f"{header}.{payload}.", "bad signature")
    assert_rejected(ring, f"{header}.{payload}", "malformed")


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a.b.c", "..", "ünïcode.x.y", "x" * 10_000, f"{b64('[1]')}.{b64('{}')}.", f"{b64('{}')}.e30.e30"],
)
def test_garbage_is_malformed_or_unsupported(ring: KeyRing, token: str) -> None:
    with pytest.raises(InvalidToken) as info:
        verify(ring, token)
    assert info.value.reason in {"malformed", "unsupported algorithm"}


def test_embedded_jwk_and_crit_headers_are_refused(ring: KeyRing) -> None:
    key = ring.active
    token = sign(key.key, {"alg": key.alg, "kid": key.kid, "jwk": key.public_jwk()}, claims())
    assert_rejected(ring, token, "unsupported header")


def test_wrong_typ(ring: KeyRing) -> None:
    key = ring.active
    token = sign(key.key, {"alg": key.alg, "kid": key.kid, "typ": "JWT+id"}, claims())
    assert_rejected(ring, token, "wrong token type")


@pytest.mark.parametrize("missing", ["sub", "exp", "nbf", "iat", "iss", "aud"])
def test_required_claims(ring: KeyRing, missing: str) -> None:
    key = ring.active
    token = sign(key.key, {"alg": key.alg, "kid": key.kid}, claims(**{missing: None}))
    assert_rejected(ring, token, "missing claim")


def test_non_numeric_exp(ring: KeyRing) -> None:
    key = ring.active
    token = sign(key.key, {"alg": key.alg, "kid": key.kid}, claims(exp="never"))
    assert_rejected(ring, token, "invalid expiry")


# -- rotation and persistence --------------------------------------------------------------------------


def test_rotation_keeps_old_tokens_valid_until_the_old_key_is_dropped(ring: KeyRing) -> None:
    old_kid = ring.active.kid
    old_token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=300)
    new_key = ring.rotate()
    assert ring.active is new_key
    assert new_key.kid != old_kid
    assert [k.kid for k in ring.previous] == [old_kid]
    assert ring.previous[0].retired_at is not None

    new_token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=300)
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] == new_key.kid
    assert verify(ring, old_token)["sub"] == "u"
    assert verify(ring, new_token)["sub"] == "u"
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old_kid, new_key.kid}

    assert ring.prune(timedelta(minutes=10)) == []  # still within the max token age: kept
    dropped = ring.prune(timedelta(minutes=10), now=datetime.now(UTC) + timedelta(minutes=11))
    assert [k.kid for k in dropped] == [old_kid]
    assert_rejected(ring, old_token, "unknown key")
    assert verify(ring, new_token)["sub"] == "u"


def test_remove_compromised_key(ring: KeyRing) -> None:
    old = ring.active
    token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=300)
    ring.rotate()
    with pytest.raises(ValueError, match="active"):
        ring.remove(ring.active.kid)
    assert ring.remove(old.kid) is True
    assert ring.remove(old.kid) is False
    assert_rejected(ring, token, "unknown key")


def test_jwks_is_public_only(ring: KeyRing) -> None:
    ring.rotate("ES256")
    ring.rotate("EdDSA")
    jwks = ring.jwks()
    assert len(jwks["keys"]) == 3
    for jwk in jwks["keys"]:
        assert "d" not in jwk
        assert jwk["use"] == "sig"
        assert jwk["alg"] in {"ES256", "EdDSA"}
        assert jwk["kid"]
    assert "private_jwk" not in repr(ring.active)
    assert ring.active.private_jwk["d"] not in repr(ring.active)


def test_keyring_serialisation_round_trip(ring: KeyRing) -> None:
    token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=300)
    ring.rotate()
    data = json.loads(json.dumps(ring.to_dict()))  # must be plain JSON
    restored = KeyRing.from_dict(data)
    assert restored.active.kid == ring.active.kid
    assert [k.kid for k in restored.previous] == [k.kid for k in ring.previous]
    assert restored.previous[0].retired_at == ring.previous[0].retired_at
    assert verify(restored, token)["sub"] == "u"
    new_token, _ = issue_access_token(restored, issuer=ISS, audience=AUD, subject="v", claims={}, ttl_seconds=300)
    assert verify(ring, new_token)["sub"] == "v"

    one = SigningKey.from_dict(ring.active.to_dict())
    assert one.kid == ring.active.kid
    assert one.public_jwk() == ring.active.public_jwk()


def test_signing_key_rejects_inconsistent_data() -> None:
    key = generate_signing_key("ES256")
    data = key.to_dict()
    with pytest.raises(ValueError, match="kid"):
        SigningKey.from_dict({**data, "kid": "other"})
    with pytest.raises(ValueError, match="unsupported"):
        SigningKey.from_dict({**data, "alg": "HS256"})
    public_only = {**data, "jwk": ECKey.import_key(data["jwk"]).as_dict(private=False)}
    with pytest.raises(ValueError, match="private"):
        SigningKey.from_dict(public_only)
    with pytest.raises(ValueError, match="unsupported"):
        generate_signing_key("RS256")


def test_verification_is_fast(ring: KeyRing) -> None:
    token, _ = issue_access_token(ring, issuer=ISS, audience=AUD, subject="u", claims={}, ttl_seconds=300)
    start = time.perf_counter()
    for _ in range(50):
        verify(ring, token)
    per_call = (time.perf_counter() - start) / 50
    assert per_call < 0.005  # well under a few ms even on a slow CI box; cached path is microseconds
