"""The gateway's names as types: what a project, a principal and a reference to a principal look like.

Each is declared once with its constraints (`msgspec.Meta`); msgspec checks them when it decodes a body,
a path or a query parameter (a 422 problem naming the field), and the OpenAPI document publishes the same
constraints, so what the document allows is what the server accepts. `...Parameter` is the same type as a
path or query parameter (`kernel/constraints.parameter_of`: Litestar documents parameters from its own
`Parameter`, not from `Meta`).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from mlplatform.kernel.constraints import parameter_of, whole

PROJECT_NAME_MAX = 63
PRINCIPAL_NAME_MAX = 200
"""The longest name a principal can have (the column's size; external OIDC users included)."""

ProjectName = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"),
        min_length=1,
        max_length=PROJECT_NAME_MAX,
        description="Lower-case letters, digits and dashes; 1-63 characters; not starting or ending with a dash.",
        examples=["fraud-detection"],
    ),
]
PrincipalName = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,199}"),
        min_length=1,
        max_length=PRINCIPAL_NAME_MAX,
        description="A new user's or service account's name: letters, digits and `._@+-`, starting with a "
        "letter or digit; 1-200 characters.",
        examples=["trainer"],
    ),
]
ExistingPrincipalName = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(rf"[^\x00-\x1f\x7f]{{1,{PRINCIPAL_NAME_MAX}}}"),
        min_length=1,
        max_length=PRINCIPAL_NAME_MAX,
        description="An existing principal's name (users signed in through an external identity provider may "
        "have names outside the pattern of new ones, e.g. `alice@example.com#1a2b3c`).",
    ),
]
Subject = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(rf"(?:user|service_account):[^\x00-\x1f\x7f]{{1,{PRINCIPAL_NAME_MAX}}}"),
        min_length=6,
        max_length=len("service_account:") + PRINCIPAL_NAME_MAX,
        description="A principal: `user:<name>` or `service_account:<name>`.",
        examples=["service_account:trainer"],
    ),
]
Email = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+"),
        max_length=320,
        description="`local@domain`, without spaces or control characters.",
    ),
]
SitePath = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(r"/(?:[^/\\\x00-\x1f\x7f][^\x00-\x1f\x7f]*)?"),
        max_length=2000,
        description="A path on this site: starts with one `/` (not `//` or `/\\`, which browsers read as another "
        "site), no control characters.",
    ),
]
RoleName = Literal["viewer", "contributor", "maintainer", "admin"]
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=4000)]

ProjectNameParameter = Annotated[ProjectName, parameter_of(ProjectName)]
ExistingPrincipalNameParameter = Annotated[ExistingPrincipalName, parameter_of(ExistingPrincipalName)]
SubjectParameter = Annotated[Subject, parameter_of(Subject)]
