"""Which deployment answers a model's prediction: traffic shares, sticky per entity key.

The live managed deployments of a model in an environment split its traffic by their shares. A request's
bucket is a stable hash of its first entity row (or of its request id when it has none), so the same entity
reaches the same deployment as long as the shares are unchanged. Shares are relative: two deployments of 30 %
and 10 % answer 3 of 4 requests and 1 of 4 (the rest of the 100 % may be held by external deployments or
pending ones, which this replica cannot answer for).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from mlplatform.modules.serving.served import Served


def entity_bucket(entities: dict[str, list[Any]] | None, fallback: str) -> int:
    """A number in [0, 2**32) fixed by the first entity row's join key values (sorted by key name)."""
    if entities:
        text = "\x1f".join(f"{name}={entities[name][0]!r}" for name in sorted(entities) if entities[name])
    else:
        text = fallback
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "little")


def pick(candidates: Sequence[Served], bucket: int) -> Served | None:
    """The deployment whose share range holds `bucket`; candidates with a 0 % share get nothing."""
    total = sum(served.deployment.traffic_share for served in candidates)
    if total <= 0:
        return None
    point = bucket % total
    for served in candidates:
        point -= served.deployment.traffic_share
        if point < 0:
            return served
    return None
