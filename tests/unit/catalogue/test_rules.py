"""Pure rules of the catalogue: the state machine, input limits, thresholds, ETags."""

from __future__ import annotations

import uuid

import pytest

from mlplatform.kernel.errors import Conflict, Invalid, PreconditionFailed
from mlplatform.modules.catalogue import rules, views


def test_state_machine_covers_every_stage_and_only_known_targets() -> None:
    assert set(rules.ALLOWED_MOVES) == set(rules.STAGES)
    for targets in rules.ALLOWED_MOVES.values():
        assert set(targets) <= set(rules.STAGES)
    # The only way into production is from staging; rejected is final.
    assert [s for s, t in rules.ALLOWED_MOVES.items() if "production" in t] == ["staging"]
    assert rules.ALLOWED_MOVES["rejected"] == ()


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("registered", "validated", True),
        ("validated", "staging", True),
        ("staging", "production", True),
        ("production", "archived", True),
        ("archived", "staging", True),
        ("registered", "production", False),
        ("production", "production", False),
        ("rejected", "registered", False),
    ],
)
def test_moves(current: str, target: str, allowed: bool) -> None:
    if allowed:
        rules.ensure_move_allowed(current, target)
        return
    with pytest.raises(Conflict) as error:
        rules.ensure_move_allowed(current, target)
    assert error.value.extra["allowed_moves"] == list(rules.ALLOWED_MOVES[current])


def test_unknown_target_stage_is_invalid_not_conflict() -> None:
    with pytest.raises(Invalid, match="unknown stage"):
        rules.ensure_move_allowed("registered", "deployed")


def test_tag_limits() -> None:
    assert rules.check_tags({"team": "risk", "a.b/c-d_e": ""}) == {"team": "risk", "a.b/c-d_e": ""}
    assert rules.check_tags(None) == {}
    with pytest.raises(Invalid, match="at most 50"):
        rules.check_tags({f"k{i}": "v" for i in range(51)})
    with pytest.raises(Invalid, match="key"):
        rules.check_tags({"k" * 65: "v"})
    with pytest.raises(Invalid, match="key"):
        rules.check_tags({'quote"': "v"})
    with pytest.raises(Invalid, match="string"):
        rules.check_tags({"k": 1})
    with pytest.raises(Invalid, match="256"):
        rules.check_tags({"k": "v" * 257})


def test_tag_filters() -> None:
    assert rules.parse_tag_filters(["team:risk", "url:http://x"]) == {"team": "risk", "url": "http://x"}
    assert rules.parse_tag_filters(["a:1", "a:1"]) == {"a": "1"}
    with pytest.raises(Invalid, match="key:value"):
        rules.parse_tag_filters(["team"])
    with pytest.raises(Invalid, match="twice"):
        rules.parse_tag_filters(["a:1", "a:2"])


def test_snapshots_and_uris() -> None:
    assert rules.check_metrics({"auc": 1}) == {"auc": 1.0}
    assert rules.check_params({"depth": 6, "name": "x"}) == {"depth": "6", "name": "x"}
    for bad in ({"auc": float("inf")}, {"auc": True}, {"auc": "high"}):
        with pytest.raises(Invalid):
            rules.check_metrics(bad)
    with pytest.raises(Invalid, match="keys"):
        rules.check_params({"": "x"})
    for uri in ("runs:/abc/model", "models:/m/1", "mlflow-artifacts:/1/2", "s3://b/k", "file:///tmp/m"):
        assert rules.check_uri(uri) == uri
    for uri in ("", "s3", "ftp://x/y", "x" * 2000, "/abs/path"):
        with pytest.raises(Invalid):
            rules.check_uri(uri)


def test_approval_policy() -> None:
    assert rules.check_approval_policy({"production": 2, "staging": 0}) == {"production": 2}
    for bad in ({"registered": 1}, {"live": 1}, {"production": -1}, {"production": 11}, {"production": True}):
        with pytest.raises(Invalid):
            rules.check_approval_policy(bad)


def test_missing_validations_uses_latest_status() -> None:
    assert rules.missing_validations(["a", "b", "c"], {"a": "passed", "b": "failed"}) == ["b", "c"]


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [("gt", 2, True), ("gt", 1, False), ("ge", 1, True), ("lt", 0, True), ("lt", 1, False), ("le", 1, True)],
)
def test_breaches(operator: str, value: float, expected: bool) -> None:
    assert rules.breaches(operator, value, 1.0) is expected


def test_if_match() -> None:
    current = views.etag(uuid.UUID(int=5), 3)
    views.check_if_match(None, current, "model")
    views.check_if_match(current, current, "model")
    views.check_if_match(f'"other", W/{current}', current, "model")
    views.check_if_match("*", current, "model")
    with pytest.raises(PreconditionFailed) as error:
        views.check_if_match(views.etag(uuid.UUID(int=5), 2), current, "model")
    assert error.value.extra["current_etag"] == current
