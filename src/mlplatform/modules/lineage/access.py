"""Who may see which lineage: the readers of a node's project (platform admins: everything)."""

from __future__ import annotations

from dataclasses import dataclass

from mlplatform.modules.gateway.api import ANY_PROJECT, Principal, Role


@dataclass(frozen=True)
class Visibility:
    """`everything`: no filter (platform admins, also nodes without a project); else `projects` (plus, with
    `any_project`, every node that has a project: a role held in every project via an OIDC mapping)."""

    everything: bool
    any_project: bool
    projects: tuple[str, ...]

    def allows(self, project: str | None) -> bool:
        if self.everything:
            return True
        if project is None:
            return False
        return self.any_project or project in self.projects


def visibility(principal: Principal) -> Visibility:
    if principal.platform_admin:
        return Visibility(everything=True, any_project=True, projects=())
    everywhere = principal.project_roles.get(ANY_PROJECT)
    projects = tuple(
        sorted(p for p, role in principal.project_roles.items() if p != ANY_PROJECT and role >= Role.VIEWER)
    )
    return Visibility(
        everything=False, any_project=everywhere is not None and everywhere >= Role.VIEWER, projects=projects
    )
