"""Where a project's files live in the platform's object store, and how a user's path becomes a key there.

Every path a user sends (a parquet source's `path`, a training set's `entity_path`, the files API) is
relative to the project's own folder, `projects/<project>/`, and is resolved by `project_key` alone. The
rules are a strict allow-list rather than a clean-up: a path that would need normalising (`a/./b`,
`a//b`, a trailing `/..`), that looks like a URL (`s3://`, `file:`, `http:`), an absolute path
(`/x`, `C:\\x`), or carries escapes (`%2e%2e`, backslashes, control characters) is refused with the
reason, never rewritten. What passes is a key below the project's folder: another project's folder,
MLflow's artifacts (`mlflow/`) and the platform's own areas (`features/`) cannot be named.

Pure functions, no I/O: they run on the request path and in worker threads alike.
"""

from __future__ import annotations

import re
from typing import Final

from mlplatform.kernel.constraints import whole
from mlplatform.kernel.storage.base import MAX_KEY_BYTES, InvalidObjectKey, validate_key

PROJECTS_AREA: Final = "projects"
"""Top-level folder of the store holding one folder per project."""

RESERVED_FIRST_SEGMENTS: Final = frozenset({"projects", "mlflow", "features"})
"""Names of the platform's own top-level areas. Inside a project's folder they would be harmless, but a
path starting with one is almost always an old store-absolute key pasted in (`mlflow/1/<run>/artifacts`):
refusing it says so, where resolving it would silently point somewhere else."""

MAX_PATH_BYTES: Final = 900
"""A user path's UTF-8 length limit: with `projects/<63-character name>/` in front, keys stay within
the store's 1024 bytes."""

_PROJECT = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
"""The gateway's project name rule: one safe segment, never `.` or `..`."""
MAX_SEGMENT_CHARACTERS: Final = 255
"""A folder or file name's limit on POSIX file systems (a longer one failed on the local store: a 503)."""
_SEGMENT = re.compile(r"[A-Za-z0-9._=+@,-]{1,255}")
"""Characters a path segment may hold (ASCII only: no look-alike dots or slashes)."""
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
ALLOWED_CHARACTERS: Final = "letters, digits and . _ - = + @ ,"

_PATTERN_SEGMENT = r"(?!\.\.?(?:/|$))[A-Za-z0-9._=+@,-]{1,255}"
PATH_PATTERN: Final = whole(
    r"(?!(?:" + "|".join(sorted(RESERVED_FIRST_SEGMENTS)) + r")(?:/|$))"
    rf"(?:{_PATTERN_SEGMENT}/)*{_PATTERN_SEGMENT}/?"
)
"""The rules of `project_key` as one regular expression (ECMA-262 and Python alike), for API schemas: what
it matches, `project_key` accepts (up to `MAX_PATH_BYTES`), and the other way round."""


class InvalidPath(ValueError):
    """A user-supplied path is refused; `reason` says why (safe to show to the user)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"invalid path {path!r}: {reason}")


def normalize_path(path: object) -> str:
    """The path in canonical form (one trailing `/` dropped), or `InvalidPath`.

    A path is `/`-separated segments of letters, digits and `. _ - = + @ ,`, none empty, `.` or
    `..`, at most `MAX_PATH_BYTES` long, relative, and not a URL.
    """
    if not isinstance(path, str):
        raise InvalidPath(path, f"must be a string, not {type(path).__name__}")
    if not path:
        raise InvalidPath(path, "must not be empty")
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidPath(path, "is not valid UTF-8") from None
    if size > MAX_PATH_BYTES:
        raise InvalidPath(path, f"is {size} bytes long, the limit is {MAX_PATH_BYTES}")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        raise InvalidPath(path, "must not contain control characters (NUL, newline ...)")
    if _SCHEME.match(path) or "://" in path:
        raise InvalidPath(path, "must be a path inside the project's folder, not a URL (s3://, file:, http: ...)")
    if path.startswith("/"):
        raise InvalidPath(path, "must be relative to the project's folder (no leading '/')")
    if "\\" in path:
        raise InvalidPath(path, "must use '/' between folders (no backslash)")
    if "%" in path:
        raise InvalidPath(path, "must not contain '%' (paths are taken literally, never percent-decoded)")
    trimmed = path[:-1] if path.endswith("/") else path
    for segment in trimmed.split("/"):
        if segment in ("", ".", ".."):
            shown = f"'{segment}'" if segment else "an empty"
            raise InvalidPath(path, f"must not contain {shown} path segment")
        if len(segment) > MAX_SEGMENT_CHARACTERS:
            raise InvalidPath(path, f"a folder or file name is at most {MAX_SEGMENT_CHARACTERS} characters long")
        if not _SEGMENT.fullmatch(segment):
            raise InvalidPath(path, f"segment {segment!r} may only hold {ALLOWED_CHARACTERS}")
    return trimmed


def project_prefix(project: str) -> str:
    """`projects/<project>/`: the project's folder in the store (a key prefix, ending in `/`)."""
    if not isinstance(project, str) or not _PROJECT.fullmatch(project):
        raise ValueError(f"not a project name: {project!r}")
    return f"{PROJECTS_AREA}/{project}/"


def project_key(project: str, path: object) -> str:
    """The object key of the user path `path` in `project`'s folder; `InvalidPath` if it is refused.

    The one place a user path becomes a key of the platform's store: every reader and writer of a
    user-given path calls it, on input and again when a stored path is used.
    """
    relative = normalize_path(path)
    first = relative.split("/", 1)[0]
    if first in RESERVED_FIRST_SEGMENTS:
        raise InvalidPath(
            path,
            f"must not start with {first + '/'!r}: paths are relative to the project's folder, and that names "
            "a platform area no project can reach (use a path such as 'raw/data.parquet')",
        )
    key = project_prefix(project) + relative
    try:
        return validate_key(key)
    except InvalidObjectKey as exc:  # only the total length can still fail
        raise InvalidPath(path, exc.reason) from None


def in_project(project: str, key: str) -> bool:
    """Whether the store key `key` lies in `project`'s folder (a stored key checked before use)."""
    prefix = project_prefix(project)
    if not key.startswith(prefix) or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return False
    try:
        return project_key(project, key[len(prefix) :]) == key
    except InvalidPath:
        return False


def relative_path(project: str, key: str) -> str:
    """The user path of a key in the project's folder (the inverse of `project_key`)."""
    prefix = project_prefix(project)
    if not key.startswith(prefix):
        raise ValueError(f"{key!r} is not in project {project!r}'s folder")
    return key[len(prefix) :]
