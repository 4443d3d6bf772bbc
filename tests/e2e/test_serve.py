"""`mlplatform serve` as a real process on the embedded default, over real HTTP."""

from __future__ import annotations

import signal
import threading
import time
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


ADMIN_KEY = "e2e-serve-admin-key-0123456789abcdef"


def test_while_feast_loads_the_server_stays_responsive_and_stops_cleanly(tmp_path: Path) -> None:
    """Feast is imported in a background thread after start-up (seconds; more under load). Meanwhile a
    request that needs Feast waits for it without freezing the event loop (no Feast import on the loop),
    and SIGTERM shuts the server down cleanly, however far the import has got."""
    env = {"MLPLATFORM_LOG_JSON": "false", "MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY}
    log_path = tmp_path / "serve.log"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    answers: list[int] = []
    with serve(tmp_path, env, log=log_path) as served:
        base = served.base_url
        created = httpx.post(f"{base}/api/v1/projects", json={"name": "p1"}, headers=headers, timeout=30)
        assert created.status_code == 201, created.text
        registry = httpx.get(f"{base}/health/ready", timeout=30).json()["components"]["feature_registry"]
        if registry["status"] == "up":
            pytest.skip("Feast finished loading before the test could observe it loading")
        assert "still loading" in registry["error"]

        def needs_feast() -> None:
            url = f"{base}/api/v1/projects/p1/features/entities"
            answers.append(httpx.get(url, headers=headers, timeout=120).status_code)

        waiting = threading.Thread(target=needs_feast)
        waiting.start()
        time.sleep(0.2)  # let it reach the server and wait for Feast there
        assert httpx.get(f"{base}/health/live", timeout=120).status_code == 200
        served.process.send_signal(signal.SIGTERM)  # with the Feast-bound request (most likely) still in flight
        returncode = served.process.wait(timeout=120)
        waiting.join()
    output = log_path.read_text(errors="replace")
    lines = output.splitlines()
    live = next(i for i, line in enumerate(lines) if "path=/health/live" in line)
    loaded = next((i for i, line in enumerate(lines) if "feast_loaded" in line), len(lines))
    assert live < loaded, output  # answered while Feast was still loading: the event loop was not blocked
    assert answers == [200], output  # in flight during SIGTERM: finished, not dropped
    assert returncode in {0, -signal.SIGTERM}, output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
