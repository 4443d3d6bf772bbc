"""The gateway over real HTTP: a standard OAuth2 client discovers the token endpoint and uses the token."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from tests.support.served import serve

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]
ADMIN_KEY = "e2e-bootstrap-admin-key-0123456789"


def test_oauth_client_credentials_from_discovery(tmp_path: Path) -> None:
    with serve(tmp_path, {"MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}) as served:
        base = served.base_url
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert httpx.post(f"{base}/api/v1/projects", json={"name": "churn"}, headers=admin).status_code == 201
        assert httpx.post(f"{base}/api/v1/service-accounts", json={"name": "trainer"}, headers=admin).status_code == 201
        key = httpx.post(
            f"{base}/api/v1/api-keys",
            json={"name": "ci", "owner": "service_account:trainer"},
            headers=admin,
        ).json()["key"]
        member = httpx.put(
            f"{base}/api/v1/projects/churn/members/service_account:trainer", json={"role": "viewer"}, headers=admin
        )
        assert member.status_code == 200

        discovery = httpx.get(f"{base}/.well-known/openid-configuration").json()
        with OAuth2Client("trainer", key, token_endpoint_auth_method="client_secret_basic") as oauth:
            token = oauth.fetch_token(discovery["token_endpoint"], grant_type="client_credentials")
            me = oauth.get(f"{base}/api/v1/me")
        assert token["token_type"] == "Bearer"
        assert me.status_code == 200
        assert me.json() == {**me.json(), "subject": "service_account:trainer", "projects": {"churn": "viewer"}}
        project = httpx.get(
            f"{base}/api/v1/projects/churn", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert project.json()["role"] == "viewer"
        denied = httpx.get(f"{base}/api/v1/me")
        assert denied.status_code == 401
        assert denied.headers["content-type"].startswith("application/problem+json")
