"""Request and response bodies of the gateway's routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, Self

import msgspec

from mlplatform.modules.gateway.api import Role
from mlplatform.modules.gateway.names import (
    Email,
    LongText,
    PrincipalName,
    ProjectName,
    RoleName,
    ShortText,
    SitePath,
    Subject,
)

if TYPE_CHECKING:
    from mlplatform.modules.gateway.models import ApiKeyRow, Membership, PrincipalRow, Project


class ProjectCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: ProjectName
    display_name: ShortText = ""
    description: LongText = ""


class ProjectUpdate(msgspec.Struct, forbid_unknown_fields=True):
    display_name: ShortText | None = None
    description: LongText | None = None


class ProjectOut(msgspec.Struct):
    name: str
    display_name: str
    description: str
    created_at: datetime
    created_by: str | None
    role: RoleName | None = None
    """The caller's role in this project."""

    @classmethod
    def of(cls, project: Project, role: Role | None) -> ProjectOut:
        """The project as `role` (the caller's role in it) sees it."""
        return msgspec.structs.replace(
            msgspec.convert(project, cls, from_attributes=True),
            role=role.label if role else None,
        )


class ProjectDeletion(msgspec.Struct, kw_only=True):
    """A deleted project: gone at once; `purge_job_id` (`GET /api/v1/jobs/{id}`) removes what it left in
    every module, after which the name can be used again."""

    name: str
    deleted_at: datetime
    purge_job_id: uuid.UUID


class MemberPut(msgspec.Struct, forbid_unknown_fields=True):
    role: RoleName


class MemberOut(msgspec.Struct):
    principal: str
    """`user:<name>` or `service_account:<name>`."""
    role: RoleName
    granted_at: datetime
    granted_by: str | None

    @classmethod
    def of(cls, principal: PrincipalRow, membership: Membership) -> MemberOut:
        return cls(
            principal=principal.subject,
            role=Role(membership.role).label,  # type: ignore[arg-type]
            granted_at=membership.created_at,
            granted_by=membership.granted_by,
        )


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: PrincipalName
    email: Email | None = None
    platform_admin: bool = False


class ServiceAccountCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: PrincipalName
    description: LongText = ""


class PrincipalOut(msgspec.Struct):
    id: uuid.UUID
    subject: str
    kind: Literal["user", "service_account"]
    name: str
    email: str | None
    description: str
    platform_admin: bool
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, row: PrincipalRow) -> PrincipalOut:
        return msgspec.convert(row, cls, from_attributes=True)


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: ShortText
    owner: Subject | None = None
    """`user:<name>` or `service_account:<name>`; default: the caller. Only platform admins may name another."""
    project: ProjectName | None = None
    """Limit the key to one project."""
    role: RoleName | None = None
    """Highest role the key may use."""
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = 90
    """Null: never expires."""


class ApiKeyOut(msgspec.Struct):
    id: uuid.UUID
    key_id: str
    name: str
    owner: str
    project: str | None
    role: RoleName | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiKeyRow, owner: str) -> Self:
        """The key `row` held by `owner` (its subject); never its secret."""
        return cls(
            id=row.id,
            key_id=row.key_id,
            name=row.name,
            owner=owner,
            project=row.project,
            role=Role(row.role_ceiling).label if row.role_ceiling else None,  # type: ignore[arg-type]
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = ""
    """The key itself. Shown once: only its hash is stored."""

    @classmethod
    def of_new(cls, row: ApiKeyRow, owner: str, plaintext: str) -> ApiKeyCreated:
        return msgspec.structs.replace(cls.of(row, owner), key=plaintext)


class MeOut(msgspec.Struct):
    id: uuid.UUID
    subject: str
    kind: str
    name: str
    platform_admin: bool
    credential: str
    projects: dict[str, RoleName]


class TokenRequest(msgspec.Struct):
    """An access token request (RFC 6749 §4.4.2), as an `application/x-www-form-urlencoded` form. The client
    authenticates with `client_id` and `client_secret` here or with HTTP Basic (§2.3.1); parameters the form
    does not name here are ignored (§3.2)."""

    grant_type: Literal["client_credentials"]
    client_id: str | None = None
    """The service account's name, or `user:<name>` / `service_account:<name>`."""
    client_secret: str | None = None
    """One of the client's API keys."""
    scope: str | None = None
    """Accepted and ignored: a token acts with its principal's roles."""


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: Annotated[int, msgspec.Meta(ge=1)]
    """Seconds until the token expires."""


OAuthErrorCode = Literal["invalid_request", "invalid_client", "unsupported_grant_type"]


class OAuthError(msgspec.Struct):
    """An error of the token endpoint as OAuth2 clients read it (RFC 6749 §5.2), not a problem document."""

    error: OAuthErrorCode
    error_description: str


class SessionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """The sign-in page's form."""

    api_key: str
    next: SitePath = "/mlflow/"
    """Where the browser goes once signed in."""


AuditOutcome = Literal["success", "denied", "failed"]
"""`denied`: refused by authentication or authorization (401/403/404); `failed`: any other error."""
ActionName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AuditEventOut(msgspec.Struct):
    id: int
    occurred_at: datetime
    actor: str | None
    action: str
    method: str
    path: str
    project: str | None
    resource: str | None
    outcome: AuditOutcome
    status_code: int | None
    request_id: str | None
    client_addr: str | None
    detail: str | None
