"""An external PostgreSQL database for connection tests: its own database, an ordinary login role with a
password and SELECT on the tables made for it (created with the test server's superuser)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from sqlalchemy import create_engine, text

from tests.support.services import POSTGRES_ADMIN_URL


def _admin_url(database: str) -> str:
    parts = urlsplit(POSTGRES_ADMIN_URL)
    return parts._replace(scheme="postgresql+psycopg", path=f"/{database}").geturl()


@dataclass
class ExternalDatabase:
    database: str
    role: str
    password: str
    tables: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(POSTGRES_ADMIN_URL).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(POSTGRES_ADMIN_URL).port or 5432

    def body(self, name: str, **changes: Any) -> dict[str, Any]:
        """A `POST /api/v1/connections` body for this database as its reader role."""
        return {
            "name": name,
            "kind": "postgres",
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "user": self.role,
            "password": self.password,
            **changes,
        }

    def execute(self, *statements: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Run statements as the superuser in this database; the rows of the last one."""
        engine = create_engine(_admin_url(self.database))
        try:
            with engine.begin() as connection:
                result = None
                for statement in statements:
                    result = connection.execute(text(statement), params or {})
                return list(result) if result is not None and result.returns_rows else []
        finally:
            engine.dispose()

    def create_table(self, frame: pd.DataFrame, dtypes: dict[str, str]) -> str:
        """`public.<name>` holding `frame`, readable by the role."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = create_engine(_admin_url(self.database))
        try:
            with engine.begin() as connection:
                columns = ", ".join(f'"{c}" {t}' for c, t in dtypes.items())
                connection.execute(text(f"CREATE TABLE public.{name} ({columns})"))
                frame.to_sql(name, connection, schema="public", if_exists="append", index=False)
                connection.execute(text(f'GRANT SELECT ON public.{name} TO "{self.role}"'))
        finally:
            engine.dispose()
        return f"public.{name}"

    def drop(self) -> None:
        engine = create_engine(_admin_url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
                connection.execute(text(f'DROP ROLE IF EXISTS "{self.role}"'))
        finally:
            engine.dispose()


def create_external_database() -> ExternalDatabase:
    suffix = uuid.uuid4().hex[:10]
    external = ExternalDatabase(database=f"ext_{suffix}", role=f"reader_{suffix}", password=f"pw-{uuid.uuid4().hex}")
    engine = create_engine(_admin_url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f"CREATE ROLE \"{external.role}\" LOGIN PASSWORD '{external.password}'"))
            connection.execute(text(f'CREATE DATABASE "{external.database}"'))
    finally:
        engine.dispose()
    external.execute(
        "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        f'GRANT USAGE ON SCHEMA public TO "{external.role}"',
    )
    return external
