"""The `lineage` settings group, next to the unchanged `MLPLATFORM_OPENLINEAGE_URL`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlplatform.settings import Settings


def test_environment_sets_the_url_and_the_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLPLATFORM_OPENLINEAGE_URL", "http://marquez:5000")
    monkeypatch.setenv("MLPLATFORM_LINEAGE__NAMESPACE", "staging")
    monkeypatch.setenv("MLPLATFORM_LINEAGE__TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("MLPLATFORM_LINEAGE__BATCH_SIZE", "200")
    settings = Settings()
    assert settings.openlineage_url == "http://marquez:5000"
    assert (settings.lineage.namespace, settings.lineage.timeout_seconds, settings.lineage.batch_size) == (
        "staging",
        2.5,
        200,
    )
    assert settings.lineage.max_attempts == 15  # the rest keeps its defaults


@pytest.mark.parametrize(
    ("field", "value"),
    [("namespace", "two words"), ("namespace", "/leading"), ("timeout_seconds", 0), ("batch_size", 0)],
)
def test_bad_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(lineage={field: value})
