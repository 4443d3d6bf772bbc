"""Secrets at rest: connection credentials, token signing keys and other secrets the platform stores.

A `SecretBox` encrypts with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under the keys of
`MLPLATFORM_SECRETS__KEYS`, newest first: the first key encrypts, every key decrypts, so a key can be
rotated without downtime (add the new key in front, re-encrypt with `mlplatform admin rotate-secret-key`,
then drop the old one). Production refuses to start without a key; development generates one into
`<data_dir>/secret.key` (mode 0600) on first start.

A column holding a token carries `info={"encrypted": True}`; `reencrypt_columns` finds every such column
in the metadata, so a module adding one needs no rotation code of its own.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from mlplatform.kernel.db import Database
    from mlplatform.settings import Settings

DEVELOPMENT_KEY_FILE = "secret.key"
ENCRYPTED = {"encrypted": True}
"""`info` of a column that holds a `SecretBox` token (found by `reencrypt_columns`)."""


class SecretKeyError(ValueError):
    """No usable key, or a stored secret that none of the configured keys decrypts."""


class SecretBox:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError("no secret key configured (MLPLATFORM_SECRETS__KEYS)")
        fernets = []
        for position, key in enumerate(keys):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise SecretKeyError(
                    f"MLPLATFORM_SECRETS__KEYS[{position}] is not a Fernet key "
                    "(32 url-safe base64-encoded bytes; `mlplatform admin new-secret-key` prints one)"
                ) from None
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def encrypt(self, plaintext: str | bytes) -> str:
        data = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
        return self._all.encrypt(data).decode("ascii")

    def decrypt(self, token: str) -> bytes:
        try:
            return self._all.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError("a stored secret cannot be decrypted with the configured keys") from None

    def decrypt_text(self, token: str) -> str:
        return self.decrypt(token).decode("utf-8")

    def rotate(self, token: str) -> str:
        """The same secret encrypted under the first key."""
        try:
            return self._all.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError("a stored secret cannot be decrypted with the configured keys") from None

    def is_current(self, token: str) -> bool:
        """Whether the first key encrypted `token` (nothing to rotate)."""
        try:
            self._primary.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def secret_box(settings: Settings) -> SecretBox:
    """The box for these settings: the configured keys, or in development the data dir's own key."""
    keys = [key.get_secret_value() for key in settings.secrets.keys]
    if keys:
        return SecretBox(keys)
    if settings.is_production:
        raise SecretKeyError("production needs MLPLATFORM_SECRETS__KEYS (secrets are encrypted at rest)")
    return SecretBox([development_key(settings.data_dir)])


def development_key(data_dir: Path) -> str:
    """`<data_dir>/secret.key`, created once (0600); concurrent first starts agree on one key."""
    path = data_dir / DEVELOPMENT_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text(encoding="ascii").strip()
            if key:
                return key
            time.sleep(0.01)  # another process created the file and is writing it
        raise SecretKeyError(f"{path} is empty: delete it or set MLPLATFORM_SECRETS__KEYS") from None
    key = generate_key()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


async def reencrypt_columns(database: Database, box: SecretBox, metadata: MetaData) -> int:
    """Re-encrypt every token in every `ENCRYPTED` column under the box's first key, in one transaction.
    Returns the number of values rewritten (tokens already under the first key are left alone)."""
    from sqlalchemy import select, update

    rewritten = 0
    async with database.transaction() as session:
        for table in metadata.sorted_tables:
            columns = [column for column in table.columns if column.info.get("encrypted")]
            if not columns:
                continue
            keys = list(table.primary_key.columns)
            rows = (await session.execute(select(*keys, *columns).with_for_update())).all()
            for row in rows:
                values = {}
                for column in columns:
                    token = row._mapping[column]
                    if token is not None and not box.is_current(token):
                        values[column.name] = box.rotate(token)
                if values:
                    condition = [key == row._mapping[key] for key in keys]
                    await session.execute(update(table).where(*condition).values(**values))
                    rewritten += len(values)
    return rewritten
