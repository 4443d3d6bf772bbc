"""Typed platform settings.

Read from `MLPLATFORM_*` environment variables and, when `MLPLATFORM_CONFIG` names one, a YAML file
(environment wins over the file). Validated once at start: a bad value stops the process with one
line naming the setting.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

ENV_PREFIX = "MLPLATFORM_"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ServerSettings(BaseModel):
    """How `mlplatform serve` listens."""

    host: str = "127.0.0.1"
    """Interface to bind."""
    port: int = Field(default=8000, ge=1, le=65535)
    """TCP port."""
    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes (uvicorn)."""
    public_url: str | None = None
    """External base URL (scheme://host[:port]) when behind a proxy; used in token issuer and links."""
    graceful_shutdown_seconds: int = Field(default=30, ge=1, le=3600)
    """On SIGTERM, how long requests in flight may take to finish before the server closes them."""
    component_stop_seconds: float = Field(default=30.0, gt=0, le=3600)
    """Then how long the platform's components (jobs, background loops, MLflow, connections) may take to
    stop; one still stopping at the deadline is logged (`shutdown_step_stuck`) and left behind."""


class HttpSettings(BaseModel):
    """Browser-facing HTTP behaviour."""

    cors_origins: list[str] = Field(default_factory=list)
    """Allowed CORS origins; empty disables CORS. `*` is refused in production."""
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Largest request body accepted on the REST API (uploads to `/mlflow` artifacts stream and are exempt)."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Client addresses whose X-Forwarded-For/-Proto are believed (the TLS-terminating proxy)."""
    access_log_sample_rate: float = Field(default=0.01, ge=0.0, le=1.0)
    """Share of requests to high-volume routes (online feature reads) that get an access-log line; their
    failures (status >= 400) are always logged. 1 logs every request, 0 only failures. Other routes: all."""
    express_routes: bool = True
    """Answer the common case of high-volume routes (online feature reads) before the framework's router
    (same answers, a fraction of the per-request cost); off: every request takes the full stack."""


class OutboxSettings(BaseModel):
    """Delivery of domain events to subscribers."""

    poll_interval_seconds: float = Field(default=1.0, gt=0)
    """How often the dispatcher looks for due deliveries when nothing woke it."""
    batch_size: int = Field(default=100, ge=1, le=10_000)
    """Deliveries claimed per round."""
    max_attempts: int = Field(default=12, ge=1)
    """After this many failures a delivery is parked as `dead` (kept, listed, retryable)."""
    backoff_base_seconds: float = Field(default=0.5, gt=0)
    """First retry delay; doubles each attempt up to `backoff_max_seconds`."""
    backoff_max_seconds: float = Field(default=300.0, gt=0)
    """Longest retry delay."""


class ExperimentsSettings(BaseModel):
    """The experiments module (MLflow)."""

    server: Literal["process", "in-process"] = "process"
    """Where MLflow's tracking server (REST API, UI, artifact proxy) runs. `process`: its own Python process,
    started and supervised by the platform, reached over a private Unix socket — MLflow's CPU-heavy request
    handling does not compete with the rest of the platform for the GIL. `in-process`: in the platform's
    process (one process fewer, ~200 MB less memory; a burst of MLflow traffic slows other routes)."""
    server_niceness: int = Field(default=10, ge=0, le=19)
    """CPU priority of MLflow's server process below the platform's (Unix niceness added at start): when the
    CPUs are saturated, a burst of MLflow traffic waits for the rest of the platform rather than the other
    way round; on CPUs with time to spare it changes nothing. 0: the same priority."""

    telemetry: bool = False
    """MLflow's usage telemetry (reports to MLflow's maintainers). Off by default: the server process and the
    platform process get `MLFLOW_DISABLE_TELEMETRY=true` and `DO_NOT_TRACK=true`; true leaves it to MLflow."""

    reconcile_interval_seconds: float = Field(default=60.0, ge=0)
    """How often MLflow's stores are compared with the outbox, to publish the RunFinished /
    ModelVersionCreated events a crash lost (also once when MLflow is loaded). 0 turns this off."""
    reconcile_overlap_seconds: float = Field(default=300.0, ge=0)
    """Each comparison reaches this far back before where the previous one ended (late commits, clocks)."""
    reconcile_settle_seconds: float = Field(default=30.0, ge=0)
    """Objects younger than this are left to the next comparison: their event is normally being written."""


class FeaturesSettings(BaseModel):
    """The features module (Feast)."""

    push_max_rows: int = Field(default=1_000_000, ge=1)
    """Most rows one push may carry (JSON or upload); more: 413."""
    push_max_decoded_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    """Most bytes an uploaded Parquet/Arrow batch may decode to (checked before decoding); more: 413."""


class ServingSettings(BaseModel):
    """The serving module: managed deployments' model workers in this replica."""

    enabled: bool = True
    """Run model workers for managed deployments in this process (off: predictions answer 503)."""
    reconcile_seconds: float = Field(default=5.0, gt=0)
    """How often this replica compares its model workers with the live managed deployments (a change made
    through this replica is acted on at once; one made through another replica within this bound)."""
    drain_seconds: float = Field(default=10.0, ge=0)
    """How long a replaced or retired deployment's workers may finish the requests they hold."""
    load_timeout_seconds: float = Field(default=300.0, gt=0)
    """Longest a model may take to download, load and warm up before the deployment is `failed`."""
    monitoring_seconds: float = Field(default=60.0, gt=0)
    """Window of the monitoring records each replica writes per deployment (latency, errors, throughput)."""
    log_flush_seconds: float = Field(default=5.0, gt=0, le=3600)
    """The prediction log writes what it buffered at least this often (and when `log_flush_rows` are waiting)."""
    log_flush_rows: int = Field(default=10_000, ge=1)
    """Rows (model input rows) of sampled predictions that start a write before `log_flush_seconds`."""
    log_max_buffered_rows: int = Field(default=100_000, ge=1)
    """Most rows the prediction log holds in memory (buffered and waiting for a retry); a sampled prediction
    arriving when it is full is dropped and counted (`mlplatform_serving_log_dropped_total`)."""
    log_write_attempts: int = Field(default=5, ge=1, le=100)
    """Times one batch is tried (once per flush) before it is dropped and counted (the object store is down)."""


class OIDCProviderSettings(BaseModel):
    """An external OpenID Connect provider whose ID/access tokens the gateway accepts."""

    issuer: str
    """Issuer URL exactly as in the provider's discovery document."""
    audience: str | list[str]
    """Accepted `aud` value(s) (the client id registered for the platform)."""
    groups_claim: str = "groups"
    """Claim (dotted path allowed, e.g. `realm_access.roles`) holding the caller's groups."""
    email_claim: str = "email"
    role_mapping: dict[str, dict[str, str]] = Field(default_factory=dict)
    """group -> {project: role}; project `*` with role `admin` makes the group platform admins."""
    allow_insecure_http: bool = False
    """Allow a plain-http issuer that is not loopback (testing only)."""


class AuthSettings(BaseModel):
    """Tokens, API keys and external identity providers."""

    issuer: str | None = None
    """`iss` of the platform's access tokens; default: server.public_url or http://<host>:<port>."""
    audience: str = "mlplatform"
    """`aud` of the platform's access tokens."""
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    """Lifetime of access tokens from the token endpoint."""
    signing_algorithm: str = "ES256"
    """ES256 or EdDSA."""
    credential_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    """How long a verified API key / principal lookup is reused: the bound within which revocation and role
    changes reach every replica even if nothing tells it (with Redis they are announced and take effect at once)."""
    oidc_providers: list[OIDCProviderSettings] = Field(default_factory=list)
    """External OIDC providers."""

    @field_validator("signing_algorithm")
    @classmethod
    def _check_alg(cls, value: str) -> str:
        if value not in {"ES256", "EdDSA"}:
            raise ValueError("must be ES256 or EdDSA")
        return value


class SecretsSettings(BaseModel):
    """Encryption of the secrets the platform stores (connection credentials, token signing keys)."""

    keys: list[SecretStr] = Field(default_factory=list)
    """Fernet keys, newest first (JSON list): the first encrypts, all decrypt. `mlplatform admin
    new-secret-key` prints a new one. Required in production; development generates one into
    `<data_dir>/secret.key`. Rotation: docs/security.md."""


class FeastRegistrySettings(BaseModel):
    """The Feast registry endpoint for the stock Feast SDK (`registry_type: remote`): Feast's gRPC registry
    server run by `mlplatform serve`, read-only, each call checked against the caller's project role."""

    enabled: bool = True
    """Open the registry port in `mlplatform serve` (never in `mlplatform worker`)."""
    host: str = "127.0.0.1"
    """Interface the gRPC port binds."""
    port: int = Field(default=6570, ge=0, le=65535)
    """gRPC port (Feast's default); 0 picks a free one."""
    public_address: str | None = None
    """`host:port` clients reach the registry at (a gRPC-capable proxy in front), written into the served
    feature_store.yaml; default: the bound host and port (the public URL's host when bound to every interface)."""
    public_tls: bool = False
    """Clients connect with TLS (the proxy at `public_address` terminates it): `is_tls: true` in the yaml.
    Required in production when the port is reachable from other machines."""


class RateLimitSettings(BaseModel):
    """Requests per window, per principal (or per client address before authentication) and route group."""

    enabled: bool = True
    window_seconds: float = Field(default=60.0, gt=0)
    """Window the limits below are counted over (GCRA: bursts up to the limit, then a smooth refill)."""
    groups: dict[str, int] = Field(
        default_factory=lambda: {
            "api": 1200,
            "auth": 60,
            "online": 60_000,
            "predict": 60_000,
            "mlflow": 60_000,
            "anonymous": 300,
        }
    )
    """Limit per route group. `anonymous` applies per client address to requests without credentials;
    `auth` to the token endpoint and failed authentications per address."""
    lease_batch: int = Field(default=100, ge=1, le=1000)
    """With Redis: a process takes at least this many requests of a busy key in one round trip (more when
    it spends more in 0.1 s, never over 1/50 of the limit) and spends them locally (keys with limits under
    50x this get smaller batches; under 100 per window: exact). 1 = one Redis round trip per request."""
    lease_seconds: float = Field(default=1.0, gt=0, le=60)
    """How long a process may spend a leased batch."""


class LineageSettings(BaseModel):
    """OpenLineage events: how they are named and sent. The endpoint itself is `openlineage_url`
    (MLPLATFORM_OPENLINEAGE_URL); without it events are only stored."""

    namespace: str = Field(default="mlplatform", min_length=1, max_length=100, pattern=r"^[^\s/][^\s]*$")
    """Namespace prefix of the platform's jobs and datasets (`<namespace>/<project>`): give installations that
    share one Marquez different ones. Applies to events built from now on; stored events keep theirs."""
    endpoint: str = "api/v1/lineage"
    """Path under the URL events are POSTed to (Marquez: `api/v1/lineage`)."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    """Per HTTP request."""
    http_retries: int = Field(default=2, ge=0, le=10)
    """Immediate retries inside one attempt (connection errors, 429, 5xx), by the HTTP transport."""
    max_attempts: int = Field(default=15, ge=1)
    """Attempts (each with its immediate retries) before an event is marked `failed` (4xx: at once)."""
    backoff_base_seconds: float = Field(default=1.0, gt=0)
    """Delay after the first failed attempt; doubles each attempt up to `backoff_max_seconds`."""
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    """Longest delay between attempts."""
    batch_size: int = Field(default=50, ge=1, le=1000)
    """Events claimed per round by a replica's emitter."""
    lease_seconds: float = Field(default=120.0, gt=0)
    """A claimed event is not claimed again for this long (a crashed replica's events come back after it)."""
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    """How often due events (retries) are looked for when no new event woke the emitter."""


class FilesSettings(BaseModel):
    """The project files API (`/api/v1/projects/{project}/files/{path}`)."""

    max_upload_bytes: int = Field(default=5 * 1024**3, ge=1)
    """Largest file one PUT may store; uploads stream to the object store and are never held in memory."""


class ConnectionsSettings(BaseModel):
    """External data connections (PostgreSQL, S3) that data sources read through."""

    statement_timeout_seconds: float = Field(default=30.0, gt=0, le=24 * 3600)
    """Longest a data source's SQL may run on a PostgreSQL connection (`SET LOCAL statement_timeout`); a
    query running longer is cancelled and the request or job fails with a message naming the source."""
    connect_timeout_seconds: int = Field(default=10, ge=1, le=300)
    """How long opening a connection to a PostgreSQL connection's server may take."""


class Settings(BaseSettings):
    """All platform settings. Environment names are `MLPLATFORM_<FIELD>`; nested groups use `__`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        env_ignore_empty=True,
        validate_default=True,
    )

    env: Environment = Environment.DEVELOPMENT
    """`development` or `production` (production refuses unsafe defaults)."""
    data_dir: Path = Path(".mlplatform")
    """Where the embedded default keeps its files."""
    database_url: str | None = None
    """Platform metadata DB (`postgresql+asyncpg://...` or `sqlite+aiosqlite:///...`); default: SQLite in data_dir."""
    redis_url: str | None = None
    """Redis for online features, rate limits, caches and jobs; default: none (in-process)."""
    storage_url: str | None = None
    """Object store root: `s3://bucket/prefix` or a folder; default: `objects/` in data_dir."""
    s3_endpoint_url: str | None = None
    """S3-compatible endpoint (MinIO, moto); credentials come from the usual AWS_* variables."""
    s3_region: str | None = None
    """S3 region; default from AWS_DEFAULT_REGION or us-east-1."""
    bootstrap_admin_key: str | None = None
    """If set, an admin API key with exactly this value exists after start."""
    openlineage_url: str | None = None
    """OpenLineage HTTP endpoint (Marquez) to emit to."""
    log_level: str = "INFO"
    """Root log level."""
    log_json: bool = True
    """Structured JSON logs (false: human-readable console lines)."""
    auto_migrate: bool | None = None
    """Apply migrations at start. Default: on in development, off in production."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    experiments: ExperimentsSettings = Field(default_factory=ExperimentsSettings)
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    feast_registry: FeastRegistrySettings = Field(default_factory=FeastRegistrySettings)
    files: FilesSettings = Field(default_factory=FilesSettings)
    features: FeaturesSettings = Field(default_factory=FeaturesSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    connections: ConnectionsSettings = Field(default_factory=ConnectionsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise ValueError(f"{ENV_PREFIX}CONFIG: no such file: {config_file}")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = urlsplit(value).scheme
        if scheme == "postgresql" or scheme == "postgres":
            return "postgresql+asyncpg" + value[len(scheme) :]
        if scheme not in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
            raise ValueError("must be postgresql+asyncpg://... or sqlite+aiosqlite:///...")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be redis://host:port/db, rediss://... or unix://...")
        return value

    @field_validator("storage_url")
    @classmethod
    def _check_storage_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme == "s3" and not parts.netloc:
            raise ValueError("s3:// URL needs a bucket: s3://bucket/prefix")
        if parts.scheme not in {"", "s3", "file"}:
            raise ValueError("must be s3://bucket/prefix, file:///path or a folder path")
        return value

    @field_validator("s3_endpoint_url", "openlineage_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("bootstrap_admin_key")
    @classmethod
    def _check_bootstrap_key(cls, value: str | None) -> str | None:
        if value is not None and (len(value) < 16 or not value.isprintable() or " " in value):
            raise ValueError("must be at least 16 printable characters without spaces")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            if "*" in self.http.cors_origins:
                raise ValueError("http.cors_origins: a wildcard origin is refused in production")
            if not (self.server.public_url or "").startswith("https://"):
                raise ValueError(
                    "server.public_url: production needs the https:// URL of the TLS-terminating proxy "
                    "(MLPLATFORM_SERVER__PUBLIC_URL); session cookies are only sent over TLS"
                )
            if not self.secrets.keys:
                raise ValueError(
                    "secrets.keys: production needs an encryption key for the secrets it stores "
                    "(MLPLATFORM_SECRETS__KEYS; `mlplatform admin new-secret-key` prints one)"
                )
            registry = self.feast_registry
            exposed = registry.public_address is not None or not _is_loopback(registry.host)
            if registry.enabled and exposed and not registry.public_tls:
                raise ValueError(
                    "feast_registry.public_tls: production serves the Feast registry (bearer tokens) to other "
                    "machines only through a TLS-terminating proxy (MLPLATFORM_FEAST_REGISTRY__PUBLIC_TLS=true)"
                )
        return self

    @property
    def token_issuer(self) -> str:
        if self.auth.issuer:
            return self.auth.issuer
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def should_auto_migrate(self) -> bool:
        return self.auto_migrate if self.auto_migrate is not None else not self.is_production

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mlplatform.db').resolve()}"

    @cached_property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str((self.data_dir / "objects").resolve())

    @property
    def uses_postgres(self) -> bool:
        return self.resolved_database_url.startswith("postgresql")

    def describe(self) -> dict[str, Any]:
        """Settings safe to log: secrets and credentials masked."""
        data = self.model_dump(mode="json")
        if data.get("bootstrap_admin_key"):
            data["bootstrap_admin_key"] = "***"
        for key in ("database_url", "redis_url"):
            if data.get(key):
                parts = urlsplit(data[key])
                if parts.password:
                    data[key] = data[key].replace(f":{parts.password}@", ":***@")
        return data


def _is_loopback(host: str) -> bool:
    return host in {"localhost", "::1"} or host.startswith("127.")
