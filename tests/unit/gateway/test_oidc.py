"""External OIDC providers, against a test IdP served over real loopback HTTP by the test itself."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from mlplatform.modules.gateway.credentials.oidc import (
    ExternalIdentity,
    ExternalProvider,
    InvalidToken,
    ProviderUnavailable,
    RoleMapping,
)
from tests.support.oidc_idp import AUD, TestIdP

MAPPING = {"ml-admins": {"*": "admin"}, "team-a": {"proj-a": "contributor"}, "team-a-leads": {"proj-a": "maintainer"}}


@pytest.fixture
def idp() -> Iterator[TestIdP]:
    server = TestIdP()
    yield server
    server.close()


@pytest.fixture
async def provider(idp: TestIdP) -> AsyncIterator[ExternalProvider]:
    async with ExternalProvider(idp.issuer, AUD, role_mapping=MAPPING, min_refresh_interval=60) as p:
        yield p


def b64json(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


async def rejected(provider: ExternalProvider, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        await provider.verify(token)
    return info.value.reason


# -- verification ------------------------------------------------------------------------------------------


async def test_good_token(idp: TestIdP, provider: ExternalProvider) -> None:
    identity = await provider.verify(idp.token())
    assert isinstance(identity, ExternalIdentity)
    assert identity.subject == "user-42"
    assert identity.email == "ada@example.test"
    assert identity.groups == ("team-a",)
    assert identity.project_roles == {"proj-a": "contributor"}
    assert identity.platform_admin is False
    assert identity.issuer == idp.issuer
    # discovery and JWKS fetched once, then cached
    await provider.verify(idp.token(sub="user-43"))
    assert idp.hits == {"/.well-known/openid-configuration": 1, "/jwks": 1}
    assert provider.algorithms == {"RS256"}


async def test_audience_list(idp: TestIdP, provider: ExternalProvider) -> None:
    identity = await provider.verify(idp.token(aud=["account", AUD]))
    assert identity.subject == "user-42"


async def test_wrong_audience(idp: TestIdP, provider: ExternalProvider) -> None:
    assert await rejected(provider, idp.token(aud="account")) == "wrong audience"
    assert await rejected(provider, idp.token(aud=None)) == "missing claim"


async def test_wrong_issuer(idp: TestIdP, provider: ExternalProvider) -> None:
    assert await rejected(provider, idp.token(iss="https://evil.test")) == "wrong issuer"


async def test_expired_and_not_yet_valid(idp: TestIdP, provider: ExternalProvider) -> None:
    now = int(time.time())
    assert await rejected(provider, idp.token(iat=now - 7200, exp=now - 3600)) == "expired"
    assert await rejected(provider, idp.token(nbf=now + 3600)) == "not yet valid"


async def test_attacks(idp: TestIdP, provider: ExternalProvider) -> None:
    claims = {"iss": idp.issuer, "aud": AUD, "sub": "x", "exp": int(time.time()) + 60}
    # alg none
    none_token = f"{b64json({'alg': 'none', 'kid': 'k1'})}.{b64json(claims)}."
    assert await rejected(provider, none_token) == "unsupported algorithm"
    # HS256 keyed with the IdP's public key (algorithm confusion)
    pem = idp.keys[0].as_pem(private=False)
    signing_input = f"{b64json({'alg': 'HS256', 'kid': 'k1'})}.{b64json(claims)}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    hs = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert await rejected(provider, hs) == "unsupported algorithm"
    # foreign key, claiming the IdP's kid
    unbound = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    forged = idp.token(unbound)
    assert await rejected(provider, forged) == "bad signature"
    # tampered payload
    header, payload, signature = idp.token().split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["groups"] = ["ml-admins"]
    assert await rejected(provider, f"{header}.{b64json(body)}.{signature}") == "bad signature"
    # algorithm the provider does not advertise (PS256 with the right RSA key)
    assert await rejected(provider, idp.token(unbound, alg="PS256")) == "unsupported algorithm"
    assert await rejected(provider, "not-a-jwt") == "malformed"


async def test_key_rotation_is_followed_and_refetch_is_rate_limited(idp: TestIdP, provider: ExternalProvider) -> None:
    await provider.verify(idp.token())
    assert idp.hits["/jwks"] == 1

    new_key = idp.rotate("k2")
    identity = await provider.verify(idp.token(new_key))  # unknown kid -> one refetch -> accepted
    assert identity.subject == "user-42"
    assert idp.hits["/jwks"] == 2
    assert idp.hits["/.well-known/openid-configuration"] == 1  # discovery stays cached

    # Within min_refresh_interval, further unknown kids do not reach the IdP.
    stranger = RSAKey.generate_key(2048)
    for i in range(5):
        assert await rejected(provider, idp.token(stranger, header={"kid": f"random-{i}"})) == "unknown key"
    assert idp.hits["/jwks"] == 2


async def test_key_without_kid_when_jwks_has_a_single_key(idp: TestIdP, provider: ExternalProvider) -> None:
    token = idp.token(header={"kid": None})
    assert (await provider.verify(token)).subject == "user-42"
    idp.keys.append(idp._new_rsa("k-extra"))
    await provider.refresh()
    assert await rejected(provider, token) == "missing key id"


async def test_ec_keys_and_key_type_mismatch(idp: TestIdP) -> None:
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec1", "alg": "ES256", "use": "sig"})
    idp.keys.append(ec)
    idp.algs = ["RS256", "ES256", "HS256", "none"]
    async with ExternalProvider(idp.issuer, AUD) as provider:
        assert (await provider.verify(idp.token(ec, alg="ES256"))).subject == "user-42"
        assert provider.algorithms == {"RS256", "ES256"}  # HS256/none never accepted, even if advertised
        # RS256 header pointing at the EC key
        assert await rejected(provider, idp.token(idp.keys[0], header={"kid": "ec1"})) == "algorithm mismatch"


async def test_provider_down(idp: TestIdP) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ExternalProvider(f"http://127.0.0.1:{port}", AUD, timeout=2) as provider:
        with pytest.raises(ProviderUnavailable):
            await provider.verify(idp.token())
        with pytest.raises(ProviderUnavailable):
            await provider.refresh()


async def test_provider_http_error_and_issuer_mismatch(idp: TestIdP) -> None:
    idp.broken = True
    async with ExternalProvider(idp.issuer, AUD, failure_backoff=0) as provider:
        with pytest.raises(ProviderUnavailable, match="HTTP 500"):
            await provider.verify(idp.token())
        idp.broken = False
        idp.discovery_issuer = "https://someone-else.test"
        with pytest.raises(ProviderUnavailable, match="issuer"):
            await provider.verify(idp.token())
        idp.discovery_issuer = None
        assert (await provider.verify(idp.token())).subject == "user-42"  # recovers


async def test_failure_backoff_spares_a_down_idp(idp: TestIdP) -> None:
    idp.broken = True
    async with ExternalProvider(idp.issuer, AUD, failure_backoff=60) as provider:
        for _ in range(5):
            with pytest.raises(ProviderUnavailable):
                await provider.verify(idp.token())
    assert idp.hits["/.well-known/openid-configuration"] == 1


async def test_cached_keys_survive_an_outage(idp: TestIdP) -> None:
    async with ExternalProvider(idp.issuer, AUD, jwks_ttl=0, min_refresh_interval=0) as provider:
        await provider.verify(idp.token())
        idp.broken = True  # scheduled refresh fails -> stale keys still verify
        assert (await provider.verify(idp.token())).subject == "user-42"
        # an unknown kid needs the IdP: that is a 503, not a 401
        with pytest.raises(ProviderUnavailable):
            await provider.verify(idp.token(idp._new_rsa("k9")))


def test_non_https_issuer_is_refused() -> None:
    with pytest.raises(ValueError, match="non-https"):
        ExternalProvider("http://idp.example.test/realms/x", AUD)


# -- claims mapping ---------------------------------------------------------------------------------------


def test_role_mapping() -> None:
    mapping = RoleMapping(MAPPING)
    assert mapping.resolve([]) == {}
    assert mapping.resolve(["unknown"]) == {}
    assert mapping.resolve(["team-a"]) == {"proj-a": "contributor"}
    assert mapping.resolve(["team-a", "team-a-leads"]) == {"proj-a": "maintainer"}  # strongest wins
    assert mapping.resolve(["team-a-leads", "team-a"]) == {"proj-a": "maintainer"}
    roles = mapping.resolve(["ml-admins", "team-a"])
    assert roles == {"*": "admin", "proj-a": "contributor"}
    assert RoleMapping.is_platform_admin(roles)
    assert not RoleMapping.is_platform_admin({"*": "viewer"})
    with pytest.raises(ValueError, match="unknown role"):
        RoleMapping({"g": {"p": "superuser"}})


async def test_mapping_through_verify(idp: TestIdP, provider: ExternalProvider) -> None:
    identity = await provider.verify(idp.token(groups=["ml-admins"]))
    assert identity.platform_admin is True
    assert identity.roles == {"*": "admin"}
    identity = await provider.verify(idp.token(groups="team-a-leads", email=None))
    assert identity.groups == ("team-a-leads",)
    assert identity.email is None
    assert identity.project_roles == {"proj-a": "maintainer"}


async def test_configurable_claims(idp: TestIdP) -> None:
    async with ExternalProvider(
        idp.issuer,
        AUD,
        role_mapping={"ml-admins": {"*": "admin"}},
        groups_claim="realm_access.roles",
        subject_claim="preferred_username",
    ) as provider:
        token = idp.token(
            groups=None, realm_access={"roles": ["ml-admins", "offline_access"]}, preferred_username="ada"
        )
        identity = await provider.verify(token)
        assert identity.subject == "ada"
        assert identity.groups == ("ml-admins", "offline_access")
        assert identity.platform_admin is True
        assert await rejected(provider, idp.token(realm_access={"roles": []})) == "missing subject"


async def test_concurrent_cold_start_fetches_once(idp: TestIdP, provider: ExternalProvider) -> None:
    tokens = [idp.token(sub=f"user-{i}") for i in range(10)]
    identities = await asyncio.gather(*(provider.verify(t) for t in tokens))
    assert [i.subject for i in identities] == [f"user-{i}" for i in range(10)]
    assert idp.hits == {"/.well-known/openid-configuration": 1, "/jwks": 1}
