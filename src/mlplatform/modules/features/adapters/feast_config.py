"""Feast's configuration, built from the platform's settings (no feast import here).

- Registry: Feast's SQL registry in its own PostgreSQL schema `feast` (psycopg 3 URL with
  `search_path=feast`), or a SQLite file in the data dir on the embedded default.
- Online store: Redis when the platform has Redis, else a SQLite file.
- Offline store: the platform's own (`adapters.offline`): parquet in the object store + sources on granted
  connections (it is never given the platform database's URL).
- A platform project `p` is the Feast project `feast_project(p)` (dashes become underscores: Feast's
  SQLite online store refuses dashes, and platform project names never contain underscores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import yaml

from mlplatform.kernel.db import FEAST_SCHEMA
from mlplatform.settings import Settings

OFFLINE_STORE_TYPE = "mlplatform.modules.features.adapters.offline.PlatformOfflineStore"
REGISTRY_CACHE_TTL_SECONDS = 60


def feast_project(project: str) -> str:
    return project.replace("-", "_")


@dataclass(frozen=True)
class FeastSettings:
    """The parts of the platform's settings Feast needs, resolved once."""

    registry_url: str
    """SQLAlchemy URL of Feast's SQL registry."""
    redis_url: str | None
    online_sqlite_path: str
    offline_root_uri: str
    s3_endpoint_url: str | None
    s3_region: str | None
    postgres_url: str | None
    """psycopg URL of the platform database (for PostgreSQL sources), None on SQLite."""
    production: bool

    @classmethod
    def from_settings(cls, settings: Settings, object_store_root: str) -> FeastSettings:
        data_dir = settings.data_dir.resolve()
        postgres_url = None
        if settings.uses_postgres:
            postgres_url = psycopg_url(settings.resolved_database_url)
            registry_url = with_search_path(postgres_url, FEAST_SCHEMA)
        else:
            registry_url = f"sqlite:///{data_dir / 'feast_registry.db'}"
        return cls(
            registry_url=registry_url,
            redis_url=settings.redis_url,
            online_sqlite_path=str(data_dir / "feast_online.db"),
            offline_root_uri=object_store_root,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_region=settings.s3_region,
            postgres_url=postgres_url,
            production=settings.is_production,
        )

    @property
    def online_is_redis(self) -> bool:
        return self.redis_url is not None

    def repo_config(self, project: str) -> dict[str, Any]:
        """Keyword arguments of `feast.RepoConfig` for one platform project."""
        return {
            "project": feast_project(project),
            "provider": "local",
            "registry": {
                "registry_type": "sql",
                "path": self.registry_url,
                "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS,
                "schema_mode": "auto",
                "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
            },
            "online_store": self.online_store(),
            "offline_store": {
                "type": OFFLINE_STORE_TYPE,
                "root_uri": self.offline_root_uri,
                "s3_endpoint_url": self.s3_endpoint_url,
                "s3_region": self.s3_region,
            },
            "entity_key_serialization_version": 3,
        }

    def online_store(self) -> dict[str, Any]:
        if self.redis_url is None:
            return {"type": "sqlite", "path": self.online_sqlite_path}
        return {"type": "redis", "connection_string": redis_connection_string(self.redis_url)}


def psycopg_url(url: str) -> str:
    """The platform's asyncpg URL as a psycopg 3 URL (what Feast's SQL registry and pandas use)."""
    scheme, rest = url.split("://", 1)
    if not scheme.startswith("postgresql"):
        raise ValueError("not a PostgreSQL URL")
    return f"postgresql+psycopg://{rest}"


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def redis_connection_string(url: str) -> str:
    """`redis://[:password@]host:port/db` as Feast's `host:port,db=N[,password=...][,ssl=true]`."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    items = [f"{host}:{parts.port or 6379}"]
    db = (parts.path or "/0").lstrip("/") or "0"
    items.append(f"db={int(db)}")
    if parts.password:
        items.append(f"password={unquote(parts.password)}")
    if parts.username and parts.username != "default":
        items.append(f"username={unquote(parts.username)}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    return ",".join(items)


def feature_store_yaml(feast: FeastSettings, project: str, *, base_url: str) -> str:
    """A `feature_store.yaml` pointing at this platform: the same registry, online reads through the
    platform's Feast-compatible endpoint (authenticated with a platform token), and credentials left
    as `${...}` placeholders that Feast expands from the environment."""
    registry_path = _masked(feast.registry_url, "FEAST_REGISTRY_PASSWORD")
    config: dict[str, Any] = {
        "project": feast_project(project),
        "provider": "local",
        "registry": {"registry_type": "sql", "path": registry_path, "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS},
        "online_store": {"type": "remote", "path": f"{base_url.rstrip('/')}/feast/{project}"},
        "auth": {"type": "oidc", "token_env_var": "MLPLATFORM_TOKEN"},
        "entity_key_serialization_version": 3,
    }
    if feast.postgres_url:
        parts = urlsplit(feast.postgres_url)
        config["offline_store"] = {
            "type": "postgres",
            "host": parts.hostname or "localhost",
            "port": parts.port or 5432,
            "database": parts.path.lstrip("/"),
            "db_schema": "public",
            "user": unquote(parts.username or ""),
            "password": "${FEAST_OFFLINE_PASSWORD}",
            "sslmode": "prefer",
        }
    header = (
        f"# Feast configuration for platform project {project!r}.\n"
        "# Online features are served by the platform (set MLPLATFORM_TOKEN to an access token or API key).\n"
        "# Set FEAST_REGISTRY_PASSWORD (and FEAST_OFFLINE_PASSWORD) to the database password before use.\n"
        "# Training sets: use the platform's POST .../features/historical (point-in-time correct, every row kept).\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def _masked(url: str, variable: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":${{{variable}}}@")
    return urlunsplit(parts._replace(netloc=netloc))
