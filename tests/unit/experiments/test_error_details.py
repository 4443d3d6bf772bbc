"""Which MLflow error messages carry internals, and what the client sees instead."""

from __future__ import annotations

import json

import pytest

from mlplatform.kernel.request_ids import current_request_id
from mlplatform.modules.experiments.hosting.config import MlflowConfig
from mlplatform.modules.experiments.hosting.error_details import ErrorScrubber

CONFIG = MlflowConfig(
    backend_store_uri="postgresql+psycopg://mlp:s3cret@db.internal:5432/platform?options=-csearch_path%3Dmlflow",
    artifact_destination="s3://platform-bucket/platform/mlflow",
    allowed_hosts=(),
)
SQLITE = MlflowConfig(
    backend_store_uri="sqlite:////var/lib/mlplatform/mlflow.db",
    artifact_destination="/var/lib/mlplatform/objects/mlflow",
    allowed_hosts=(),
)


@pytest.fixture(autouse=True)
def request_id() -> None:
    current_request_id.set("req-123")


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        (
            "Registered Model (name=churn.m) already exists. Error: (psycopg.errors.UniqueViolation) duplicate key\n"
            "[SQL: INSERT INTO registered_models (name) VALUES (%(name)s)]\n[parameters: {'name': 'churn.m'}]",
            "Registered Model (name=churn.m) already exists",
        ),
        ("(sqlite3.IntegrityError) UNIQUE constraint failed: experiments.name", None),
        ("the tracking URI was set to sqlite:////var/lib/mlplatform/mlflow.db. Perhaps you forgot", None),
        ("Could not open /var/lib/mlplatform/objects/mlflow/1/abc/artifacts/x", "Could not open"),
        ("Access denied for s3://platform-bucket/platform/mlflow/3/x", "Access denied for"),
        ("Connecting to https://user:pa55@proxy.example:3128 failed", "Connecting to"),
        ('Traceback (most recent call last):\n  File "/x/site-packages/mlflow/a.py", line 3', None),
        ("could not connect to db.internal:5432/platform", "could not connect to"),
    ],
)
def test_internals_are_cut_and_a_request_id_given(message: str, kept: str | None) -> None:
    scrubber = ErrorScrubber([*CONFIG.internal_strings(), *SQLITE.internal_strings()])
    public = scrubber.public_message(message, status=400)
    assert public is not None
    assert "req-123" in public
    for secret in ("SQL", "psycopg", "sqlite", "s3cret", "pa55", "platform-bucket", "/var/lib", "site-packages"):
        assert secret not in public
    if kept is not None:
        assert public.startswith(kept)


def test_clean_messages_pass_unchanged_and_unexpected_failures_never_do() -> None:
    scrubber = ErrorScrubber(CONFIG.internal_strings())
    assert scrubber.public_message("Run 'abc' not found", status=404) is None
    body = json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for 'name'."}).encode()
    assert scrubber.scrub_body(400, body, path="/mlflow/x") is None

    crash = json.dumps({"error_code": "INTERNAL_ERROR", "message": "KeyError: 'tenant'"}).encode()
    replaced = json.loads(scrubber.scrub_body(500, crash, path="/mlflow/x") or b"{}")
    assert replaced["error_code"] == "INTERNAL_ERROR"
    assert "KeyError" not in replaced["message"]
    assert "req-123" in replaced["message"]

    page = b'<html>Traceback (most recent call last): File "/srv/app.py", line 1</html>'
    as_json = json.loads(scrubber.scrub_body(400, page, path="/mlflow/x") or b"{}")
    assert "Traceback" not in as_json["message"]
    assert scrubber.scrub_body(404, b"<html>Not Found</html>", path="/mlflow/x") is None
