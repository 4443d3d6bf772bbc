"""Which Redis keys a project's purge deletes: exactly the online-store hashes of that Feast project.

Feast's own clean-up matches `<entity key prefix>*<project>`, which also matches the keys of a project whose
name ends with the other's (`shop` for `p`); the purge parses the entity key and compares the whole rest."""

from __future__ import annotations

import pytest

from mlplatform.modules.features.purge import entity_key_project


def feast_key(project: str, **values: object) -> bytes:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    proto = EntityKey()
    for name, value in sorted(values.items()):
        proto.join_keys.append(name)
        proto.entity_values.append(Value(string_val=value) if isinstance(value, str) else Value(int64_val=value))
    return serialize_entity_key(proto, entity_key_serialization_version=3) + project.encode()


@pytest.mark.parametrize(
    ("values", "project"),
    [
        ({"driver_id": 1}, "p"),
        ({"driver_id": 1}, "shop"),
        ({"customer_id": "x-7", "driver_id": 2**40}, "fraud_detection"),
        ({"user": "pp"}, "p"),
    ],
)
def test_the_project_of_a_feast_key_is_everything_after_the_entity_key(values: dict[str, object], project: str) -> None:
    assert entity_key_project(feast_key(project, **values)) == project.encode()


def test_a_project_ending_in_another_ones_name_is_not_that_project() -> None:
    key = feast_key("shop", driver_id=1)
    assert key.endswith(b"p")
    assert entity_key_project(key) != b"p"


@pytest.mark.parametrize(
    "key",
    [
        b"",
        b"ratelimit:api:user:p",
        b"mlplatform:features:meta:p",
        b"saq:job:default:1234p",
        b"\x01\x00\x00\x00\x02\x00\x00\x00\xff\xff\x00\x00p",  # a length past the end
        b"\x00\x00\x00\x00p",  # no join keys
        feast_key("", driver_id=1),  # an entity key with nothing after it
    ],
)
def test_other_redis_keys_are_not_online_rows(key: bytes) -> None:
    assert entity_key_project(key) in (None, b"")
    assert entity_key_project(key) != b"p"
