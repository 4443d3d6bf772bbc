"""Traffic shares, sticky per entity: which deployment answers a prediction."""

from __future__ import annotations

import uuid
from collections import Counter
from types import SimpleNamespace
from typing import Any, cast

from mlplatform.modules.serving.routing import entity_bucket, pick
from mlplatform.modules.serving.served import Served


def served(share: int) -> Served:
    deployment = SimpleNamespace(id=uuid.uuid4(), traffic_share=share)
    return cast(Served, SimpleNamespace(deployment=deployment))


def test_the_same_entity_reaches_the_same_deployment_while_shares_are_unchanged() -> None:
    candidates = [served(70), served(30)]
    for card in range(200):
        entities: dict[str, list[Any]] = {"card_id": [card, 999]}
        first = pick(candidates, entity_bucket(entities, uuid.uuid4().hex))
        again = pick(candidates, entity_bucket({"card_id": [card]}, uuid.uuid4().hex))
        assert first is again  # the first entity row decides; the request id does not matter


def test_join_keys_count_in_name_order() -> None:
    assert entity_bucket({"a": [1], "b": [2]}, "x") == entity_bucket({"b": [2], "a": [1]}, "y")
    assert entity_bucket({"a": [1], "b": [2]}, "x") != entity_bucket({"a": [2], "b": [1]}, "x")


def test_shares_split_the_traffic_and_a_zero_share_gets_none() -> None:
    big, small, idle = served(60), served(20), served(0)
    picked = (pick([big, small, idle], entity_bucket(None, uuid.uuid4().hex)) for _ in range(8000))
    counts = Counter(id(choice) for choice in picked)
    assert counts[id(idle)] == 0
    assert 0.70 < counts[id(big)] / 8000 < 0.80  # 60 of the 80 % held: three quarters
    assert pick([idle], 12345) is None
    assert pick([], 1) is None
