"""The rules the features API holds names, references and paths to, as msgspec types.

Each type is both the check and its documentation: msgspec refuses a value that breaks it before any
handler runs (422 naming the field), and the OpenAPI document shows the same pattern or bound, so what
the document allows is what the server accepts.

Patterns are built with `kernel.constraints.whole`: without it `"driver\\n"` passed as a name (Python's
`$` also matches before a final newline).
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from mlplatform.kernel.constraints import whole
from mlplatform.kernel.storage.project_paths import MAX_PATH_BYTES, PATH_PATTERN

NAME_BODY: Final = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
NAME_PATTERN: Final = whole(NAME_BODY)
FEATURE_REF_PATTERN: Final = whole(f"{NAME_BODY}:{NAME_BODY}")
SERVICE_FEATURE_PATTERN: Final = whole(f"{NAME_BODY}(?::{NAME_BODY})?")
PROJECT_NAME_PATTERN: Final = whole(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
"""The gateway's rule for project names (`gateway/schemas.py`, not importable from here)."""

Name = Annotated[
    str,
    msgspec.Meta(
        pattern=NAME_PATTERN,
        description="Letters, digits and underscores; not starting with a digit; at most 128 characters.",
    ),
]
FeatureRef = Annotated[
    str,
    msgspec.Meta(pattern=FEATURE_REF_PATTERN, description="`view:feature`: a feature of a feature view."),
]
ServiceFeatureRef = Annotated[
    str,
    msgspec.Meta(
        pattern=SERVICE_FEATURE_PATTERN,
        description="`view` (every feature of the view) or `view:feature`.",
    ),
]
ProjectPath = Annotated[
    str,
    msgspec.Meta(
        pattern=PATH_PATTERN,
        max_length=MAX_PATH_BYTES,
        description="A path relative to the project's folder (`raw/drivers.parquet`): `/`-separated names of "
        "letters, digits and `. _ - = + @ ,` (1-255 each), none `.` or `..`; not starting with `projects/`, "
        "`mlflow/` or `features/`; at most 900 characters.",
    ),
]
Description = Annotated[str, msgspec.Meta(max_length=2000)]
"""A definition's or a connection's free-text description."""
ProjectName = Annotated[
    str,
    msgspec.Meta(
        pattern=PROJECT_NAME_PATTERN,
        description="Lower-case letters, digits and dashes; 1-63 characters; not starting or ending with a dash.",
    ),
]
