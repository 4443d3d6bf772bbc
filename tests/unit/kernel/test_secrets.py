"""Secrets at rest: the box, the development key file and key rotation over encrypted columns."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from mlplatform.kernel.db import Database
from mlplatform.kernel.secrets import (
    ENCRYPTED,
    SecretBox,
    SecretKeyError,
    development_key,
    generate_key,
    reencrypt_columns,
    secret_box,
)
from mlplatform.settings import Settings


def test_a_secret_round_trips_and_is_not_stored_in_clear() -> None:
    box = SecretBox([generate_key()])
    token = box.encrypt("postgres://reader:s3cret@db/warehouse")
    assert "s3cret" not in token
    assert box.decrypt_text(token) == "postgres://reader:s3cret@db/warehouse"
    assert "keys hidden" in repr(box)


def test_a_token_from_another_key_is_refused_with_a_clear_error() -> None:
    token = SecretBox([generate_key()]).encrypt("x")
    with pytest.raises(SecretKeyError, match="cannot be decrypted"):
        SecretBox([generate_key()]).decrypt(token)


def test_a_malformed_key_names_its_position() -> None:
    with pytest.raises(SecretKeyError, match=r"KEYS\[1\] is not a Fernet key"):
        SecretBox([generate_key(), "not-a-key"])
    with pytest.raises(SecretKeyError, match="no secret key"):
        SecretBox([])


def test_rotation_keeps_old_tokens_readable_and_moves_them_to_the_new_key() -> None:
    old, new = generate_key(), generate_key()
    token = SecretBox([old]).encrypt("v")
    both = SecretBox([new, old])
    assert both.decrypt_text(token) == "v"
    assert not both.is_current(token)
    rotated = both.rotate(token)
    assert both.is_current(rotated)
    assert SecretBox([new]).decrypt_text(rotated) == "v"


def test_development_generates_one_private_key_file_that_concurrent_starts_share(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: development_key(tmp_path), range(8)))
    assert len(keys) == 1
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600
    settings = Settings(data_dir=tmp_path)
    assert secret_box(settings).decrypt_text(SecretBox(list(keys)).encrypt("same")) == "same"


def test_configured_keys_win_over_the_development_file(tmp_path: Path) -> None:
    key = generate_key()
    settings = Settings(data_dir=tmp_path, secrets={"keys": [key]})
    assert SecretBox([key]).decrypt_text(secret_box(settings).encrypt("x")) == "x"
    assert not (tmp_path / "secret.key").exists()


async def test_reencrypt_columns_rewrites_every_encrypted_column_under_the_first_key(tmp_path: Path) -> None:
    metadata = MetaData()
    table = Table(
        "holders",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("secret", String, info=ENCRYPTED),
        Column("other", String, info=ENCRYPTED, nullable=True),
        Column("plain", String),
    )
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    old, new = generate_key(), generate_key()
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        old_box = SecretBox([old])
        async with database.transaction() as session:
            await session.execute(
                insert(table),
                [
                    {"id": 1, "secret": old_box.encrypt("a"), "other": None, "plain": "p"},
                    {"id": 2, "secret": old_box.encrypt("b"), "other": old_box.encrypt("c"), "plain": "q"},
                ],
            )
        rotated_box = SecretBox([new, old])
        assert await reencrypt_columns(database, rotated_box, metadata) == 3
        assert await reencrypt_columns(database, rotated_box, metadata) == 0
        async with database.sessionmaker() as session:
            rows = (await session.execute(select(table).order_by(table.c.id))).all()
        only_new = SecretBox([new])
        assert [only_new.decrypt_text(r.secret) for r in rows] == ["a", "b"]
        assert rows[0].other is None
        assert only_new.decrypt_text(rows[1].other) == "c"
        assert [r.plain for r in rows] == ["p", "q"]
    finally:
        await database.dispose()
