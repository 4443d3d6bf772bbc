"""`/api/v1/projects/{project}/files`: the project's folder of the object store (viewers read, contributors write).

Paths are relative to the folder (`raw/drivers.parquet`), the same paths parquet sources and
`entity_path` take. Downloads are always `application/octet-stream` attachments, whatever the file
holds, so an uploaded page can never run in the platform's origin.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, delete, get, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from litestar.response import Stream

from mlplatform.kernel.context import PlatformContext
from mlplatform.kernel.errors import Conflict, PayloadTooLarge
from mlplatform.kernel.openapi_bodies import raw_body
from mlplatform.kernel.storage.project_paths import MAX_PATH_BYTES, PATH_PATTERN
from mlplatform.modules.features import schemas
from mlplatform.modules.features.constraints import ProjectPath
from mlplatform.modules.features.controllers.media_types import OCTET_STREAM, binary_download
from mlplatform.modules.features.services import files
from mlplatform.modules.gateway.api import Role, requires_role

BASE = "/api/v1/projects/{project:str}/files"
FILE = f"{BASE}/{{path:path}}"
DOWNLOAD_HEADERS = {"Content-Disposition": "attachment"}
"""With `X-Content-Type-Options: nosniff`, which every response carries (`kernel/security_headers.py`): an
uploaded page never renders in the platform's origin."""
FilePath = Annotated[
    str,
    Parameter(
        description=ProjectPath.__metadata__[0].description,
        schema_extra={"pattern": PATH_PATTERN, "maxLength": MAX_PATH_BYTES},
    ),
]
"""`{path}`: documented with the rule `project_key` checks (Litestar hands the value over with a leading
`/`, which a declared pattern would refuse, so the check stays in `services/files.py`)."""


def _relative(path: str) -> str:
    """Litestar hands `{path:path}` over with the URL's separating `/` in front."""
    return path[1:] if path.startswith("/") else path


@put(
    FILE,
    guards=[requires_role(Role.CONTRIBUTOR)],
    tags=["files"],
    summary="Upload a file to the project's folder",
    request_max_body_size=None,
    status_code=201,
    opt=raw_body(
        OCTET_STREAM, description="The file's bytes, whatever they hold (none: an empty file).", required=False
    ),
    raises=[PayloadTooLarge, Conflict],
    responses={200: ResponseSpec(data_container=schemas.ProjectFile, description="Replaced", generate_examples=False)},
)
async def put_project_file(
    project: str, path: FilePath, request: Request[Any, Any, Any], platform: PlatformContext
) -> Response[schemas.ProjectFile]:
    """The raw body becomes the file at `path` (streamed; at most `MLPLATFORM_FILES__MAX_UPLOAD_BYTES`).
    201 when it was created, 200 when it replaced a file."""
    stored, created = await files.put_file(
        platform.object_store,
        project,
        _relative(path),
        request.stream(),
        max_bytes=platform.settings.files.max_upload_bytes,
        announced_bytes=request.content_length,
    )
    return Response(stored, status_code=201 if created else 200)


@get(
    FILE,
    guards=[requires_role(Role.VIEWER)],
    tags=["files"],
    summary="Download a file of the project's folder",
    operation_class=binary_download(OCTET_STREAM, description="The file's bytes, as stored."),
    raises=[Conflict],
)
async def get_project_file(project: str, path: FilePath, platform: PlatformContext) -> Stream:
    content = await files.open_file(platform.object_store, project, _relative(path))
    return Stream(content, media_type="application/octet-stream", headers=DOWNLOAD_HEADERS)


@delete(
    FILE,
    guards=[requires_role(Role.CONTRIBUTOR)],
    tags=["files"],
    summary="Delete a file of the project's folder",
    raises=[Conflict],
)
async def delete_project_file(project: str, path: FilePath, platform: PlatformContext) -> None:
    await files.delete_file(platform.object_store, project, _relative(path))


@get(BASE, guards=[requires_role(Role.VIEWER)], tags=["files"], summary="List the project's files")
async def list_project_files(
    project: str,
    platform: PlatformContext,
    prefix: Annotated[
        str | None,
        Parameter(
            pattern=PATH_PATTERN,
            max_length=MAX_PATH_BYTES,
            description="Only files whose path starts with this (a folder ends with `/`).",
        ),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Parameter(ge=1, le=files.MAX_LIST)] = None,
) -> schemas.ProjectFilePage:
    """Files whose path starts with `prefix`, in path order (`next_cursor` continues the listing)."""
    return await files.list_files(platform.object_store, project, prefix, cursor, limit)


FILE_HANDLERS = [put_project_file, get_project_file, delete_project_file, list_project_files]
