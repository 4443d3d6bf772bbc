"""User paths resolve inside the project's folder of the object store, or are refused with a reason."""

from __future__ import annotations

import pytest

from mlplatform.kernel.storage import project_paths
from mlplatform.kernel.storage.project_paths import (
    InvalidPath,
    in_project,
    normalize_path,
    project_key,
    project_prefix,
    relative_path,
)

LONGEST = ("x" * 255 + "/") * 3 + "x" * (project_paths.MAX_PATH_BYTES - 256 * 3)
"""The longest path: every folder and file name at the 255-character limit of a POSIX name."""

HOSTILE: list[tuple[object, str]] = [
    ("../x", "'..'"),
    ("../other/raw/drivers", "'..'"),
    ("a/../../b", "'..'"),
    ("a/..", "'..'"),
    ("./a", "'.'"),
    ("a/./b", "'.'"),
    ("/abs", "no leading '/'"),
    ("/", "no leading '/'"),
    ("//host/share", "no leading '/'"),
    ("s3://other-bucket/x", "not a URL"),
    ("S3://bucket/platform/projects/other/x", "not a URL"),
    ("file:///etc/passwd", "not a URL"),
    ("file:/etc/passwd", "not a URL"),
    ("http://169.254.169.254/latest/meta-data", "not a URL"),
    ("mlflow-artifacts:/1/run/artifacts", "not a URL"),
    ("C:\\windows", "not a URL"),
    ("raw/s3://x", "not a URL"),
    ("%2e%2e/other", "'%'"),
    ("%252e%252e/other", "'%'"),
    ("raw%2fx", "'%'"),
    ("a\\..\\b", "backslash"),
    ("..\\other", "backslash"),
    ("a\x00b", "control characters"),
    ("a\nb", "control characters"),
    ("a\x7fb", "control characters"),
    ("", "must not be empty"),
    ("a//b", "an empty"),
    ("a//", "an empty"),
    ("mlflow/..", "'..'"),
    ("x" * (project_paths.MAX_PATH_BYTES + 1), "the limit is"),
    ("a/" + "x" * (project_paths.MAX_SEGMENT_CHARACTERS + 1), "at most 255 characters"),
    ("é" * (project_paths.MAX_PATH_BYTES // 2 + 1), "the limit is"),
    ("a/\uff0e\uff0e/b", "may only hold"),  # fullwidth dots
    ("a/\u2215etc", "may only hold"),  # division slash
    ("a b", "may only hold"),
    ("~/x", "may only hold"),
    ("raw/*.parquet", "may only hold"),
    ("\ud800", "not valid UTF-8"),
    (None, "must be a string"),
    (["raw"], "must be a string"),
]


@pytest.mark.parametrize(("path", "reason"), HOSTILE, ids=[repr(p)[:40] for p, _ in HOSTILE])
def test_hostile_paths_are_refused_with_the_reason(path: object, reason: str) -> None:
    with pytest.raises(InvalidPath) as refused:
        project_key("p1", path)
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    "path", ["projects/other/raw/x.parquet", "projects", "mlflow/1/abc/artifacts/model.pkl", "features/other/datasets"]
)
def test_paths_naming_a_platform_area_are_refused(path: str) -> None:
    """Old store-absolute keys are refused rather than silently re-rooted under the project's folder."""
    with pytest.raises(InvalidPath) as refused:
        project_key("p1", path)
    assert "platform area" in refused.value.reason


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("raw/drivers.parquet", "projects/p1/raw/drivers.parquet"),
        ("raw/drivers/", "projects/p1/raw/drivers"),
        ("raw/date=2026-01-01/part-0.parquet", "projects/p1/raw/date=2026-01-01/part-0.parquet"),
        (".hidden/a+b@c,d", "projects/p1/.hidden/a+b@c,d"),
        ("...", "projects/p1/..."),
        ("mlflow-data/x", "projects/p1/mlflow-data/x"),
        (LONGEST, "projects/p1/" + LONGEST),
    ],
)
def test_good_paths_land_in_the_projects_folder(path: str, key: str) -> None:
    assert project_key("p1", path) == key
    assert in_project("p1", key)
    assert not in_project("p2", key)
    assert relative_path("p1", key) == normalize_path(path)


def test_the_longest_project_name_with_the_longest_path_fits_a_key() -> None:
    project = "a" * 63
    key = project_key(project, LONGEST)
    assert len(key.encode()) <= 1024


def test_project_names_are_checked() -> None:
    assert project_prefix("p-1") == "projects/p-1/"
    for bad in ("", "..", "a/b", "P1", "-a", "a_b", "a" * 64):
        with pytest.raises(ValueError, match="not a project name"):
            project_prefix(bad)


def test_stored_keys_outside_the_projects_folder_are_not_in_it() -> None:
    for key in (
        "projects/p1",
        "projects/p10/x",
        "projects/p1/../p2/x",
        "projects/p1//x",
        "projects/p1/mlflow/x",
        "mlflow/1/run/artifacts/x",
        "features/p1/datasets/x.parquet",
        "raw/p1/drivers",
        "/projects/p1/x",
    ):
        assert not in_project("p1", key), key
