"""Every module has the shape docs/architecture.md describes ("The module contract").

import-linter (`lint-imports`, run by CI) checks the boundaries between modules; this test checks the
shape inside each one: the `Module` declaration alone in `__init__.py`, one runtime class in `runtime.py`,
the shared file names, and SQL statements only in repositories.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlplatform.app import platform_modules
from mlplatform.kernel.module import Module

MODULES_DIR = Path(__file__).resolve().parents[2] / "src" / "mlplatform" / "modules"
MODULE_NAMES = sorted(p.name for p in MODULES_DIR.iterdir() if (p / "__init__.py").exists())

OTHER_NAMES_FOR_ONE_ROLE = {
    "subscribers.py": "subscriber.py",
    "admin_cli.py": "cli.py",
    "deps.py": "dependencies.py",
    "_http.py": "dependencies.py",
    "wiring.py": "__init__.py (the Module) and runtime.py (its live objects)",
    "state.py": "runtime.py",
    "startup.py": "runtime.py",
    "listing.py": "mlplatform.kernel.pagination",
}
STATEMENT_BUILDERS = {"select", "insert", "update", "delete", "text", "union", "union_all", "exists"}
"""SQLAlchemy constructors of statements: called only in repositories (and tables in models)."""
MAX_LINES = 500


def _python_files(module: str) -> list[Path]:
    return sorted((MODULES_DIR / module).rglob("*.py"))


def _is_repository(path: Path, module: str) -> bool:
    relative = path.relative_to(MODULES_DIR / module)
    return relative.parts[0] in {"repositories.py", "repositories"} or relative.name == "repositories.py"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_init_holds_only_the_module_declaration(module: str) -> None:
    tree = ast.parse((MODULES_DIR / module / "__init__.py").read_text())
    body = [node for node in tree.body if not isinstance(node, ast.Import | ast.ImportFrom)]
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    names = [
        target.id
        for node in body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]
    assert names == ["module"], f"{module}/__init__.py assigns {names}: it holds only `module = Module(...)`"
    assert all(isinstance(node, ast.Assign) for node in body), (
        f"{module}/__init__.py defines functions or classes: they belong in runtime.py or the file of their role"
    )


def test_every_module_is_declared() -> None:
    declared = platform_modules()
    assert sorted(m.name for m in declared) == MODULE_NAMES
    assert all(isinstance(m, Module) for m in declared)


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_runtime_is_one_class_in_runtime_py(module: str) -> None:
    declared = next(m for m in platform_modules() if m.name == module)
    runtime_file = MODULES_DIR / module / "runtime.py"
    if declared.runtime is None:
        assert not runtime_file.exists(), f"{module} has a runtime.py but declares no Module.runtime"
        return
    assert declared.runtime.__module__ == f"mlplatform.modules.{module}.runtime"
    tree = ast.parse(runtime_file.read_text())
    runtimes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Runtime")]
    assert len(runtimes) == 1, f"{module}/runtime.py declares {[n.name for n in runtimes]}: exactly one XRuntime"
    members = {_declared_name(item) for item in runtimes[0].body}
    assert {"component", "start", "stop"} <= members, f"{runtimes[0].name} needs component, start() and stop()"


def _declared_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_one_name_per_role(module: str) -> None:
    misnamed = [
        f"{path.relative_to(MODULES_DIR)} (call it {OTHER_NAMES_FOR_ONE_ROLE[path.name]})"
        for path in _python_files(module)
        if path.name in OTHER_NAMES_FOR_ONE_ROLE
    ]
    assert not misnamed
    assert (MODULES_DIR / module / "api.py").exists(), f"{module} has no api.py: other modules reach it only there"


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_statements_are_built_in_repositories(module: str) -> None:
    offenders = []
    for path in _python_files(module):
        if _is_repository(path, module) or path.name == "models.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sqlalchemy"):
                built = sorted(alias.name for alias in node.names if alias.name in STATEMENT_BUILDERS)
                if built:
                    offenders.append(f"{path.relative_to(MODULES_DIR)}:{node.lineno} imports {built}")
    assert not offenders, "SQL statements belong in the module's repositories:\n" + "\n".join(offenders)


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_files_stay_small(module: str) -> None:
    long = [
        f"{path.relative_to(MODULES_DIR)}: {count} lines"
        for path in _python_files(module)
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, "a file this long becomes a package of smaller files"
