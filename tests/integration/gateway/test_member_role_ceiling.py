"""Managing members never reaches above the manager's own role.

A maintainer used to demote or remove a project admin (200/204). Now a caller changes or removes only a
membership at or below its own role, and grants only roles at or below its own; platform admins act as
project admins everywhere. Every combination of caller, current role and requested change is walked.
"""

from __future__ import annotations

import itertools

from litestar import Litestar

from mlplatform.modules.gateway.api import Role
from tests.integration.gateway.conftest import Client
from tests.support.factories import grant

PROJECT = "ranked"
ROLES = ("viewer", "contributor", "maintainer", "admin")


async def role_of(client: Client, reader: dict[str, str], subject: str) -> str | None:
    members = (await client.get(f"/api/v1/projects/{PROJECT}/members", headers=reader)).json()
    return next((m["role"] for m in members if m["principal"] == subject), None)


async def test_a_lower_role_never_changes_a_higher_one(app: Litestar, client: Client) -> None:
    keeper = await grant(app, project=PROJECT, role="admin", name="keeper")  # the project keeps an admin
    callers = {
        "maintainer": (await grant(app, project=PROJECT, role="maintainer"), Role.MAINTAINER),
        "admin": (await grant(app, project=PROJECT, role="admin"), Role.ADMIN),
        "platform admin": (await grant(app, platform_admin=True), Role.ADMIN),
        "maintainer key of an admin": (
            await grant(app, project=PROJECT, role="admin", key_role="maintainer"),
            Role.MAINTAINER,
        ),
    }
    outcomes = []
    for (caller, (headers, rank)), current, change in itertools.product(
        callers.items(), (None, *ROLES), (*ROLES, "remove")
    ):
        if current is None and change == "remove":
            continue
        name = f"t{len(outcomes)}"
        await grant(app, project=PROJECT, role=current, name=name)
        subject = f"user:{name}"
        path = f"/api/v1/projects/{PROJECT}/members/{subject}"
        if change == "remove":
            response = await client.delete(path, headers=headers)
            allowed_status = 204
        else:
            response = await client.put(path, json={"role": change}, headers=headers)
            allowed_status = 200
        needed = max(Role.parse(current) if current else Role.VIEWER, Role.parse(change) if change != "remove" else 1)
        allowed = rank >= needed
        expected = allowed_status if allowed else 403
        after = await role_of(client, keeper, subject)
        expected_after = (None if change == "remove" else change) if allowed else current
        outcomes.append((caller, current, change, response.status_code, after, expected, expected_after))
    wrong = [o for o in outcomes if (o[3], o[4]) != (o[5], o[6])]
    assert not wrong, "\n".join(
        f"{caller} {current}->{change}: {status} leaving {after} (expected {exp} leaving {exp_after})"
        for caller, current, change, status, after, exp, exp_after in wrong
    )
    denied = await client.put(
        f"/api/v1/projects/{PROJECT}/members/user:keeper", json={"role": "viewer"}, headers=callers["maintainer"][0]
    )
    assert denied.headers["content-type"].startswith("application/problem+json")
    assert "admin" in denied.json()["detail"]
