"""The building blocks of MLflow endpoint rules: `Rule`, the per-request `Ctx` and the `Plan` a rule returns.

A rule matches a method + path, says whether the endpoint reads or writes (MLflow searches are POSTs:
the method says nothing), and checks the request against the caller's project roles. Its `Plan` may
rewrite the JSON body (e.g. add the project tag on creation) and post-process MLflow's response
(filter search results, check a by-name look-up, publish a domain event after a success).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlplatform.kernel.errors import Forbidden, NotFound
from mlplatform.modules.experiments.authz.errors import MlflowDenied
from mlplatform.modules.experiments.authz.projects import ProjectResolver
from mlplatform.modules.experiments.authz.request import MlflowCall
from mlplatform.modules.gateway.api import Principal, ProjectDirectory, Role, ensure_role

ResponseHook = Callable[[int, bytes], Awaitable[bytes]]
"""(status, body) of MLflow's response → the body to send (may raise MlflowDenied to replace it)."""


class EventSink(Protocol):
    """Where successful MLflow writes are reported (the outbox publisher, see `observer.py`)."""

    async def run_terminated(self, run_id: str, project: str, previous_status: str | None) -> None: ...

    async def model_version_created(self, project: str, model_version: dict[str, Any]) -> None: ...


class ProductionCheck(Protocol):
    """Whether MLflow may mark a model version for production (`production.py`)."""

    async def check(self, project: str, registered_model: str, mlflow_version: str) -> None: ...


UNCHANGED: Any = object()


@dataclass
class Plan:
    project: str | None = None
    """The project the request touches (audit); None for project-less or multi-project requests."""
    resource: str | None = None
    body: Any = UNCHANGED
    """A replacement JSON body for MLflow, or UNCHANGED."""
    on_response: ResponseHook | None = None
    respond: Any = None
    """Answer with this JSON (200) without calling MLflow (e.g. a search over no readable project)."""
    query: dict[str, list[str]] | None = None
    """A replacement query string for MLflow, or None."""
    path: str | None = None
    """Send the request to this MLflow path instead (below the mount, e.g. `/api/2.0/mlflow-artifacts/...`)."""


@dataclass
class Ctx:
    call: MlflowCall
    principal: Principal
    resolver: ProjectResolver
    projects: ProjectDirectory
    events: EventSink
    write: bool
    production: ProductionCheck | None = None
    """The catalogue's say on production stages and aliases (None: no catalogue to ask)."""

    @property
    def admin(self) -> bool:
        return self.principal.platform_admin

    @property
    def role(self) -> Role:
        return Role.CONTRIBUTOR if self.write else Role.VIEWER

    async def require(self, project: str | None, what: str, role: Role | None = None) -> str | None:
        """Check the caller's role in `project` (None: the object belongs to no project, or does not exist).

        Outsiders learn nothing: a project the caller is not a member of looks like a missing object.
        """
        if self.admin:
            return project
        if project is None:
            raise MlflowDenied.not_found(f"{what} not found")
        try:
            await ensure_role(self.principal, project, role or self.role, projects=self.projects)
        except NotFound:
            raise MlflowDenied.not_found(f"{what} not found") from None
        except Forbidden as exc:
            raise MlflowDenied.forbidden(exc.detail) from None
        return project

    def readable_projects(self) -> set[str] | None:
        """Projects whose MLflow objects the caller may see; None means all (platform admin)."""
        if self.admin:
            return None
        return {p for p, r in self.principal.project_roles.items() if r >= Role.VIEWER}

    def required_value(self, name: str, *, source: str | None = None) -> str:
        values = self.call.values(name, source=source)
        if not values or not values[0]:
            raise MlflowDenied.invalid(f"Missing value for required parameter '{name}'.")
        return values[0]

    def all_values(self, *names: str, source: str | None = None) -> list[str]:
        """Every value under any of `names` (e.g. run_id and run_uuid): each one is authorized."""
        found: list[str] = []
        for name in names:
            found += self.call.values(name, source=source)
        return list(dict.fromkeys(v for v in found if v))


Check = Callable[[Ctx], Awaitable[Plan]]


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    template: str
    action: str
    write: bool
    check: Check
    parse_body: bool = True
    """Buffer and parse the JSON body before checking (False for streamed artifact uploads)."""
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+):path\\\}", r"(?P<\1>.+)", re.escape(self.template))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


class RuleBook:
    """Rules by path; the first rule whose method and path match wins."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self._static: dict[tuple[str, str], Rule] = {}
        self._dynamic: list[Rule] = []
        for rule in self.rules:
            if "{" in rule.template:
                self._dynamic.append(rule)
            else:
                for method in rule.methods:
                    self._static.setdefault((method, rule.template), rule)

    def match(self, method: str, path: str) -> tuple[Rule, dict[str, str]] | None:
        rule = self._static.get((method, path))
        if rule is not None:
            return rule, {}
        for rule in self._dynamic:
            if method in rule.methods:
                found = rule.pattern.match(path)
                if found:
                    return rule, found.groupdict()
        return None


class RuleCollector:
    """Decorator-based collection of rules for one area (tracking, registry ...)."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def __call__(
        self, methods: str, template: str, action: str, *, write: bool, parse_body: bool = True
    ) -> Callable[[Check], Check]:
        def register(check: Check) -> Check:
            self.rules.append(
                Rule(frozenset(methods.split(",")), template, action, write, check, parse_body=parse_body)
            )
            return check

        return register

    def add(
        self, methods: str, template: str, action: str, check: Check, *, write: bool, parse_body: bool = True
    ) -> None:
        self(methods, template, action, write=write, parse_body=parse_body)(check)
