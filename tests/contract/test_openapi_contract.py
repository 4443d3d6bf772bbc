"""Issue 20: the OpenAPI document tells the truth. Schemathesis (the real CLI, pinned) fuzzes every documented
operation of a served platform (PostgreSQL, Redis, S3) with an admin key and seeded fixtures: no server
error, no response or content type the document does not state, no operation left unexercised.

`CONTRACT_TAGS=catalogue uv run pytest tests/contract` checks one tag; see docs/guide.md, "Contract tests".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplatform.settings import Settings
from tests.contract.run import run_schemathesis
from tests.contract.seed import seed_with_worker
from tests.contract.served_stack import ADMIN_KEY, lake_bucket, served_stack, stack_env
from tests.support.served import worker, worker_env

pytestmark = [pytest.mark.e2e, pytest.mark.contract]


@pytest.mark.timeout(900)
def test_the_document_tells_the_truth(settings: Settings, tmp_path: Path) -> None:
    with served_stack(settings, tmp_path) as served:
        with worker({**worker_env(settings), **stack_env(settings)}, tmp_path / "worker.log"):
            seeder = seed_with_worker(served.base_url, ADMIN_KEY, lake_bucket(settings), tmp_path)
        seeder.queued_job()  # no worker from here on: it stays queued for the cancel operation
        fixtures = {**seeder.seeded.env(), "CONTRACT_ADMIN_KEY": ADMIN_KEY}
        report = run_schemathesis(served.base_url, fixtures, tmp_path)
    problems = report.problems()
    assert not problems, "Schemathesis found:\n- " + "\n- ".join(problems) + "\n\n" + report.output
