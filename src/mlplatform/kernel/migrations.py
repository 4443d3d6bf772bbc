"""Running the platform's Alembic migrations (and knowing whether a database is up to date)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import partial
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from mlplatform.kernel.db import PLATFORM_SCHEMA, Database
from mlplatform.kernel.secrets import SecretBox, secret_box

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def migrations_dir() -> Path:
    """`migrations/` of the source tree, or the copy packed into the wheel as `mlplatform/migrations`."""
    for candidate in (_PACKAGE_DIR / "migrations", _PACKAGE_DIR.parent.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the platform's migrations folder is missing from this installation")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["database_url"] = database_url
    return config


SECRETS_ATTRIBUTE = "secrets"
"""Alembic config attribute: a zero-argument callable returning the `SecretBox` data migrations encrypt with."""


def upgrade(database_url: str, revision: str = "heads", *, secrets: Callable[[], SecretBox] | None = None) -> None:
    """Apply migrations up to `revision` (default: every module's branch head).

    Each module keeps its migrations on its own Alembic branch (branch label = module name), all
    rooted at the kernel's first revision. `secrets` gives the `SecretBox` of the platform's settings to
    a data migration that encrypts stored secrets (called only when one has something to encrypt).
    Blocking: call from a thread when inside an event loop."""
    config = alembic_config(database_url)
    if secrets is not None:
        config.attributes[SECRETS_ATTRIBUTE] = secrets
    command.upgrade(config, revision)


def migration_secrets(config: Config) -> SecretBox:
    """For a data migration: the `SecretBox` `upgrade` was given, else the one of the environment's settings
    (`MLPLATFORM_SECRETS__KEYS`, or the development key in the data dir)."""
    provided = config.attributes.get(SECRETS_ATTRIBUTE)
    if provided is not None:
        box: SecretBox = provided()
        return box
    from mlplatform.settings import Settings

    return secret_box(Settings())


def head_revisions(database_url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


async def current_revisions(database: Database) -> set[str]:
    """Revisions recorded in the database; empty when it was never migrated."""
    table = f"{PLATFORM_SCHEMA}.alembic_version" if database.dialect == "postgresql" else "alembic_version"
    try:
        async with database.engine.connect() as conn:
            rows = await conn.execute(text(f"SELECT version_num FROM {table}"))  # noqa: S608 - constant name
            return {row[0] for row in rows}
    except (ProgrammingError, OperationalError) as exc:
        if "does not exist" in str(exc) or "no such table" in str(exc):
            return set()
        raise
    except DBAPIError:
        raise


async def upgrade_async(database_url: str, *, secrets: Callable[[], SecretBox] | None = None) -> None:
    await asyncio.to_thread(partial(upgrade, database_url, secrets=secrets))
