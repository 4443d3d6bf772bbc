"""The MLflow UI through the gateway, in a real (headless) browser.

A browser sends no `Authorization` header: it signs in on `/login` with an API key, gets an HttpOnly
session cookie, and MLflow's UI (its page, scripts and ajax calls) then works under `/mlflow` with that
cookie alone, showing the member's experiment and run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.browser import chromium_executable
from tests.support.served import Served, serve

pytestmark = [pytest.mark.e2e, pytest.mark.embedded]

ADMIN_KEY = f"e2e-browser-admin-{uuid.uuid4().hex}"
PROJECT = "browser"
UI_TIMEOUT_MS = 60_000
"""The first `/mlflow` request imports MLflow in the server (seconds; more on a loaded machine)."""


@pytest.fixture
def chromium() -> str:
    """Checked before the platform is started: without a browser there is nothing to drive."""
    return chromium_executable()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path, {"MLPLATFORM_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY, "MLPLATFORM_LOG_LEVEL": "WARNING"}) as served:
        yield served


def member_key(http: httpx.Client) -> str:
    """A viewer of the project: reading is all the UI needs here."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    http.post("/api/v1/projects", json={"name": PROJECT}, headers=admin).raise_for_status()
    http.post("/api/v1/users", json={"name": "ada"}, headers=admin).raise_for_status()
    http.put(f"/api/v1/projects/{PROJECT}/members/user:ada", json={"role": "viewer"}, headers=admin).raise_for_status()
    created = http.post("/api/v1/api-keys", json={"name": "browser", "owner": "user:ada"}, headers=admin)
    created.raise_for_status()
    return str(created.json()["key"])


def tracked_run(http: httpx.Client) -> tuple[str, str]:
    """An experiment of the project with one run (and a parameter), created with the admin key over
    MLflow's REST API. Returns the experiment and run ids."""
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    api = "/mlflow/api/2.0/mlflow"
    experiment = http.post(f"{api}/experiments/create", json={"name": f"{PROJECT}/churn-baseline"}, headers=admin)
    experiment.raise_for_status()
    experiment_id = str(experiment.json()["experiment_id"])
    run = http.post(
        f"{api}/runs/create", json={"experiment_id": experiment_id, "run_name": "gentle-heron-42"}, headers=admin
    )
    run.raise_for_status()
    run_id = str(run.json()["run"]["info"]["run_id"])
    param = {"run_id": run_id, "key": "learning_rate", "value": "0.0125"}
    http.post(f"{api}/runs/log-parameter", json=param, headers=admin).raise_for_status()
    return experiment_id, run_id


async def test_sign_in_then_the_mlflow_ui_shows_the_experiment(chromium: str, served: Served) -> None:
    from playwright.async_api import async_playwright, expect

    with httpx.Client(base_url=served.base_url, timeout=120) as http:
        key = member_key(http)
        experiment_id, run_id = tracked_run(http)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            context = await browser.new_context(base_url=served.base_url)
            page = await context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            failed: list[str] = []
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            # No session: the gateway sends the browser to the sign-in page, which brings it back afterwards.
            await page.goto("/mlflow/")
            assert page.url == f"{served.base_url}/login?next=%2Fmlflow%2F"
            await expect(page).to_have_title("mlplatform — sign in")
            await page.fill("#api_key", key)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{served.base_url}/mlflow/")
            (cookie,) = [c for c in await context.cookies() if c["name"] == "mlp_session"]
            assert cookie["httpOnly"]
            assert cookie["sameSite"] == "Strict"

            # MLflow's UI, with nothing but the cookie: its experiment list and the experiment's runs.
            await page.goto("/mlflow/#/experiments")
            await expect(page.get_by_text(f"{PROJECT}/churn-baseline").first).to_be_visible()
            await page.goto(f"/mlflow/#/experiments/{experiment_id}/runs")
            await expect(page.get_by_text("gentle-heron-42").first).to_be_visible()
            # The run's page (MLflow's GraphQL endpoint) with its parameter.
            await page.goto(f"/mlflow/#/experiments/{experiment_id}/runs/{run_id}")
            await expect(page.get_by_text("0.0125").first).to_be_visible()
            # Every call the UI made was authenticated by the cookie (it also probes admin-only features, such
            # as MLflow's assistant, which are refused with 403).
            assert not [f for f in failed if f.startswith(("401", "5"))], failed
        finally:
            await browser.close()
