"""Pieces of the registry port that need no running server: failure masking, addresses in the yaml."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from mlplatform.kernel.errors import Unavailable
from mlplatform.modules.features.adapters.registry_access import Call
from mlplatform.modules.features.adapters.registry_endpoint import RegistryEndpoint
from mlplatform.settings import Settings


class Aborted(Exception):
    pass


class RecordingContext:
    """What gRPC's servicer context does on abort: remember the status, raise."""

    def __init__(self) -> None:
        self.status: tuple[grpc.StatusCode, str] | None = None

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.status = (code, details)
        raise Aborted


CALL = Call(method="/feast.registry.RegistryServer/ListEntities", authorization=None, client="127.0.0.1")


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (
            'connection to server at "10.1.2.3", port 5432 failed: password authentication failed for user "app"',
            grpc.StatusCode.UNAVAILABLE,
        ),
        ("relation feast.entities at postgresql://app:pw@10.1.2.3/metadb is broken", grpc.StatusCode.INTERNAL),
    ],
)
def test_unexpected_failures_reach_the_client_without_their_text(failure: str, code: grpc.StatusCode) -> None:
    from sqlalchemy.exc import OperationalError

    from mlplatform.modules.features.adapters.registry_server import _answer

    def behavior(request: Any, context: Any) -> Any:
        raise OperationalError("SELECT 1", {}, Exception(failure))

    context = RecordingContext()
    with pytest.raises(Aborted):
        _answer(behavior, CALL, object(), context)
    assert context.status is not None
    assert context.status[0] == code
    for secret in ("10.1.2.3", "5432", "app", "pw", "metadb", "postgresql"):
        assert secret not in context.status[1]


def test_feast_errors_pass_through_for_feasts_own_mapping() -> None:
    from feast.errors import EntityNotFoundException

    from mlplatform.modules.features.adapters.registry_server import _answer

    def behavior(request: Any, context: Any) -> Any:
        raise EntityNotFoundException("driver", "p")

    with pytest.raises(EntityNotFoundException):
        _answer(behavior, CALL, object(), RecordingContext())


def endpoint(tmp_path: Path, **registry: Any) -> RegistryEndpoint:
    settings = Settings(data_dir=tmp_path, feast_registry=registry, server={"public_url": "https://ml.example.com"})
    return RegistryEndpoint(SimpleNamespace(settings=settings), gateway=None)  # type: ignore[arg-type]


async def test_the_yaml_names_the_configured_address_or_says_why_there_is_none(tmp_path: Path) -> None:
    assert await endpoint(tmp_path, public_address="feast.example.com:443").address() == "feast.example.com:443"
    with pytest.raises(Unavailable, match="MLPLATFORM_FEAST_REGISTRY__ENABLED") as off:
        await endpoint(tmp_path, enabled=False).address()
    assert off.value.component == "feast-registry"
    with pytest.raises(Unavailable, match="not running"):
        await endpoint(tmp_path).address(wait_seconds=0)
    bound = endpoint(tmp_path, host="0.0.0.0")
    bound._port = 6570  # as after a successful start
    assert bound.public_address() == "ml.example.com:6570"
