"""`mlplatform serve` as a real process on the embedded default, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.served import serve

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]


def test_serve_in_an_empty_folder_is_ready_and_speaks_problem_json(tmp_path: Path) -> None:
    with serve(tmp_path) as served, httpx.Client(timeout=30) as http:
        base = served.base_url
        ready = http.get(f"{base}/health/ready").json()
        assert ready["status"] in {"up", "degraded"}
        assert all(c["status"] == "up" for c in ready["components"].values() if c["required"])
        spec = http.get(f"{base}/schema/openapi.json").json()
        assert spec["info"]["title"] == "mlplatform"
        missing = http.get(f"{base}/no/such/route")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        assert missing.headers["x-request-id"]
        print(f"cold start to ready: {served.startup_seconds:.2f}s")
    assert (tmp_path / ".mlplatform" / "mlplatform.db").is_file()
