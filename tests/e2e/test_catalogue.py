"""The catalogue walkthrough of docs/catalogue.md against `mlplatform serve` over real HTTP:
users and keys made through the API, register, validate, request production, approve, deploy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.served import serve

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]
ADMIN_KEY = "e2e-catalogue-admin-key-0123456789"


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    with serve(tmp_path, {"MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}) as served:
        yield served.base_url


def key_for(admin: httpx.Client, user: str, role: str) -> dict[str, str]:
    assert admin.post("/api/v1/users", json={"name": user}).status_code in {200, 201}
    assert admin.put(f"/api/v1/projects/fraud/members/user:{user}", json={"role": role}).status_code in {200, 201}
    created = admin.post("/api/v1/api-keys", json={"name": "e2e", "owner": f"user:{user}", "project": "fraud"})
    assert created.status_code in {200, 201}, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def test_register_validate_request_approve_deploy(base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10) as admin:
        assert admin.post("/api/v1/projects", json={"name": "fraud"}).status_code in {200, 201}
        dev, lead = key_for(admin, "dana", "contributor"), key_for(admin, "lee", "maintainer")
    p = f"{base_url}/api/v1/projects/fraud"
    with httpx.Client(timeout=10) as http:
        model = http.post(
            f"{p}/models",
            headers=lead,
            json={
                "name": "card-scorer",
                "tags": {"team": "risk", "domain": "cards"},
                "required_validations": ["holdout-auc"],
                "approval_policy": {"production": 1},
            },
        )
        assert model.status_code == 201, model.text
        version = http.post(
            f"{p}/models/card-scorer/versions",
            headers=dev,
            json={"model_uri": "s3://models/card-scorer/1", "framework": "xgboost"},
        )
        assert version.status_code == 201, version.text
        checked = http.post(
            f"{p}/models/card-scorer/versions/1/validations",
            headers=dev,
            json={"name": "holdout-auc", "status": "passed", "metrics": {"auc": 0.93}},
        )
        assert checked.status_code == 201, checked.text
        for stage in ("validated", "staging"):
            moved = http.post(f"{p}/models/card-scorer/versions/1/transitions", headers=dev, json={"to_stage": stage})
            assert moved.status_code == 200, moved.text
        requested = http.post(
            f"{p}/models/card-scorer/versions/1/transitions", headers=dev, json={"to_stage": "production"}
        )
        assert requested.status_code == 202, requested.text
        assert requested.json()["status"] == "pending_approval"
        approved = http.post(f"{p}/models/card-scorer/versions/1/approvals", headers=lead, json={"decision": "approve"})
        assert approved.status_code == 201, approved.text
        assert approved.json()["version"]["stage"] == "production"
        deployed = http.post(
            f"{p}/deployments",
            headers=dev,
            json={"model": "card-scorer", "version": 1, "environment": "prod", "target": "https://serving/card"},
        )
        assert deployed.status_code == 201, deployed.text
        illegal = http.post(
            f"{p}/models/card-scorer/versions/1/transitions", headers=dev, json={"to_stage": "registered"}
        )
        assert illegal.status_code == 409
        assert illegal.headers["content-type"].startswith("application/problem+json")
        assert illegal.json()["allowed_moves"] == ["staging", "archived"]
        found = http.get(f"{p}/models", headers=dev, params=[("tag", "team:risk"), ("tag", "domain:cards")])
        assert [m["name"] for m in found.json()["items"]] == ["card-scorer"]
