"""Static checks for the deploy files: ``compose.yaml`` and ``Dockerfile``.

No Docker engine needed. Run from anywhere::

    uv run python scripts/check_compose.py [--compose compose.yaml] [--dockerfile Dockerfile]

Exit status 0 when both files pass, 1 with one line per problem otherwise. Importable for tests:
``check_compose(path) -> list[str]`` and ``check_dockerfile(path) -> list[str]`` return the problems found.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

#: The only service allowed to publish ports: the gateway.
PUBLISHED_SERVICE = "platform"
#: Services every deployment of the platform needs.
REQUIRED_SERVICES = ("postgres", "redis", "minio", "minio-init", "migrate", "platform", "worker")
#: Services that run the platform image (built from this repository).
PLATFORM_IMAGE_SERVICES = ("migrate", "platform", "worker")
#: Services that must have a healthcheck (the platform's may come from the Dockerfile).
HEALTHCHECKED_SERVICES = ("postgres", "redis", "minio", "platform")
REQUIRED_PROFILES = ("jupyter", "marquez")
#: Environment every platform-image service needs to reach the compose engines.
REQUIRED_PLATFORM_ENV = ("MLPLATFORM_DATABASE_URL", "MLPLATFORM_REDIS_URL", "MLPLATFORM_STORAGE_URL")
#: First argument of each platform-image service's command.
EXPECTED_COMMANDS = {"migrate": "migrate", "platform": "serve", "worker": "worker"}
DEPENDS_ON_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
NON_ROOT_USERS_FORBIDDEN = ("root", "0")


# ----------------------------------------------------------------------------------------------------------------
# Dockerfile
# ----------------------------------------------------------------------------------------------------------------


def parse_dockerfile(text: str) -> list[list[tuple[str, str]]]:
    """Split a Dockerfile into build stages, each a list of ``(INSTRUCTION, arguments)``.

    Handles comments, blank lines and backslash line continuations (enough for this repository's Dockerfile;
    heredocs are not supported). Instructions before the first ``FROM`` (global ``ARG``) form stage 0 only if
    there is no ``FROM`` at all.
    """
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are dropped by Docker too
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        logical.append(pending + line)
        pending = ""
    if pending.strip():
        logical.append(pending.strip())

    stages: list[list[tuple[str, str]]] = []
    preamble: list[tuple[str, str]] = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        instruction = (keyword.upper(), args.strip())
        if instruction[0] == "FROM":
            stages.append([instruction])
        elif stages:
            stages[-1].append(instruction)
        else:
            preamble.append(instruction)
    return stages or [preamble]


def _exec_or_shell(args: str) -> list[str]:
    """Arguments of ENTRYPOINT/CMD/HEALTHCHECK CMD: JSON exec form or shell form, as a list of words."""
    stripped = args.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            return []
        return [str(item) for item in value] if isinstance(value, list) else []
    try:
        return shlex.split(stripped)
    except ValueError:
        return stripped.split()


def _last(stage: Sequence[tuple[str, str]], keyword: str) -> str | None:
    found = [args for instruction, args in stage if instruction == keyword]
    return found[-1] if found else None


def dockerfile_has_healthcheck(path: Path) -> bool:
    """True when the final stage of the Dockerfile at ``path`` declares a HEALTHCHECK other than NONE."""
    try:
        stages = parse_dockerfile(path.read_text(encoding="utf-8"))
    except OSError:
        return False
    healthcheck = _last(stages[-1], "HEALTHCHECK")
    return healthcheck is not None and healthcheck.strip().upper() != "NONE"


def check_dockerfile(path: str | Path) -> list[str]:
    """Problems with the platform Dockerfile: non-root USER, HEALTHCHECK, ENTRYPOINT ``mlplatform``, EXPOSE 8000."""
    dockerfile = Path(path)
    try:
        text = dockerfile.read_text(encoding="utf-8")
    except OSError as exc:
        return [f"{dockerfile}: cannot read: {exc}"]
    stages = parse_dockerfile(text)
    final = stages[-1]
    if not final or final[0][0] != "FROM":
        return [f"{dockerfile}: no FROM instruction"]

    problems: list[str] = []
    user = _last(final, "USER")
    if user is None:
        problems.append(f"{dockerfile}: the final stage has no USER: the container would run as root")
    else:
        name = user.split(":", 1)[0].strip()
        if name in NON_ROOT_USERS_FORBIDDEN or not name:
            problems.append(f"{dockerfile}: USER {user!r} runs the container as root")

    healthcheck = _last(final, "HEALTHCHECK")
    if healthcheck is None or healthcheck.strip().upper() == "NONE":
        problems.append(f"{dockerfile}: the final stage has no HEALTHCHECK")
    elif "CMD" not in healthcheck.split():
        problems.append(f"{dockerfile}: HEALTHCHECK has no CMD: {healthcheck!r}")

    entrypoint = _last(final, "ENTRYPOINT")
    words = _exec_or_shell(entrypoint) if entrypoint is not None else []
    if not words:
        problems.append(f'{dockerfile}: the final stage has no ENTRYPOINT (expected ["mlplatform"])')
    elif Path(words[0]).name != "mlplatform":
        problems.append(f'{dockerfile}: ENTRYPOINT is {words!r}, expected ["mlplatform", ...]')

    exposed = {port for args in (a for i, a in final if i == "EXPOSE") for port in args.split()}
    if not exposed & {"8000", "8000/tcp"}:
        problems.append(f"{dockerfile}: the final stage does not EXPOSE 8000")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# compose.yaml
# ----------------------------------------------------------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """``depends_on`` in either form, as ``{target: condition}``."""
    raw = service.get("depends_on")
    if isinstance(raw, list):
        return {str(name): "service_started" for name in raw}
    if isinstance(raw, dict):
        return {str(name): str(_as_dict(spec).get("condition", "service_started")) for name, spec in raw.items()}
    return {}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment")
    if isinstance(raw, dict):
        return {str(key): "" if value is None else str(value) for key, value in raw.items()}
    if isinstance(raw, list):
        pairs = (str(item).partition("=") for item in raw)
        return {key: value for key, _, value in pairs}
    return {}


def _profiles(service: dict[str, Any]) -> set[str]:
    raw = service.get("profiles")
    return {str(profile) for profile in raw} if isinstance(raw, list) else set()


def _build(service: dict[str, Any]) -> tuple[str, str] | None:
    """``(context, dockerfile)`` of a service built from source, None for an image-only service."""
    raw = service.get("build")
    if raw is None:
        return None
    if isinstance(raw, str):
        return (raw, "Dockerfile")
    spec = _as_dict(raw)
    return (str(spec.get("context", ".")), str(spec.get("dockerfile", "Dockerfile")))


def _command_words(service: dict[str, Any]) -> list[str]:
    raw = service.get("command")
    if isinstance(raw, list):
        return [str(word) for word in raw]
    if isinstance(raw, str):
        return _exec_or_shell(raw)
    return []


def _has_compose_healthcheck(service: dict[str, Any]) -> bool | None:
    """True/False when the service sets (or disables) a healthcheck, None when it inherits the image's."""
    raw = service.get("healthcheck")
    if raw is None:
        return None
    spec = _as_dict(raw)
    if spec.get("disable") is True:
        return False
    test = spec.get("test")
    if isinstance(test, list):
        return bool(test) and str(test[0]).upper() != "NONE"
    if isinstance(test, str):
        return bool(test.strip())
    return None


def _is_named_volume(source: str) -> bool:
    return bool(source) and not source.startswith((".", "/", "~", "$"))


def _volume_sources(service: dict[str, Any]) -> Iterable[str]:
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            parts = entry.split(":")
            if len(parts) >= 2:
                yield parts[0]
        elif isinstance(entry, dict) and entry.get("type", "volume") == "volume" and entry.get("source"):
            yield str(entry["source"])


def check_compose(path: str | Path) -> list[str]:
    """Problems with ``compose.yaml``; an empty list means it passes every check."""
    compose_path = Path(path)
    try:
        document = yaml.safe_load(compose_path.read_text(encoding="utf-8"))
    except OSError as exc:
        return [f"{compose_path}: cannot read: {exc}"]
    except yaml.YAMLError as exc:
        return [f"{compose_path}: not valid YAML: {exc}"]
    if not isinstance(document, dict):
        return [f"{compose_path}: the top level is not a mapping"]

    problems: list[str] = []

    def problem(message: str) -> None:
        problems.append(f"{compose_path}: {message}")

    if "version" in document:
        problem("top-level `version:` is obsolete in the Compose specification; remove it")
    services = {str(name): _as_dict(spec) for name, spec in _as_dict(document.get("services")).items()}
    if not services:
        problem("no services defined")
        return problems

    for name in REQUIRED_SERVICES:
        if name not in services:
            problem(f"required service {name!r} is missing")

    # Ports: only the gateway is reachable from outside the compose network.
    publishers = sorted(
        name for name, spec in services.items() if spec.get("ports") or spec.get("network_mode") == "host"
    )
    for name in publishers:
        if name != PUBLISHED_SERVICE:
            problem(f"service {name!r} publishes ports (or uses host networking); only {PUBLISHED_SERVICE!r} may")
    if PUBLISHED_SERVICE in services and PUBLISHED_SERVICE not in publishers:
        problem(f"service {PUBLISHED_SERVICE!r} publishes no port")

    # Builds: every service built from source uses one context and Dockerfile, i.e. one image.
    builds = {name: build for name, spec in services.items() if (build := _build(spec)) is not None}
    if len(set(builds.values())) > 1:
        detail = ", ".join(f"{name}={context}:{dockerfile}" for name, (context, dockerfile) in sorted(builds.items()))
        problem(f"services are built from different contexts/Dockerfiles: {detail}")
    for name in PLATFORM_IMAGE_SERVICES:
        if name in services and name not in builds:
            problem(f"service {name!r} does not build the platform image (no `build:`)")
    images = {str(services[name].get("image")) for name in builds if services[name].get("image")}
    if len(images) > 1:
        problem(f"services built from source are tagged with different images: {sorted(images)}")

    dockerfile_healthcheck: dict[tuple[str, str], bool] = {}
    for context, dockerfile in set(builds.values()):
        dockerfile_path = compose_path.parent / context / dockerfile
        dockerfile_healthcheck[(context, dockerfile)] = dockerfile_has_healthcheck(dockerfile_path)

    def has_healthcheck(name: str) -> bool:
        own = _has_compose_healthcheck(services[name])
        if own is not None:
            return own
        build = builds.get(name)
        return build is not None and dockerfile_healthcheck.get(build, False)

    for name in HEALTHCHECKED_SERVICES:
        if name in services and not has_healthcheck(name):
            where = " (neither in compose.yaml nor as a Dockerfile HEALTHCHECK)" if name in builds else ""
            problem(f"service {name!r} has no healthcheck{where}")

    # depends_on: targets exist, conditions are valid and satisfiable, profiles line up.
    for name, spec in sorted(services.items()):
        own_profiles = _profiles(spec)
        for target, condition in sorted(_depends_on(spec).items()):
            if target not in services:
                problem(f"service {name!r} depends on undefined service {target!r}")
                continue
            if condition not in DEPENDS_ON_CONDITIONS:
                problem(f"service {name!r} depends on {target!r} with unknown condition {condition!r}")
            if condition == "service_healthy" and not has_healthcheck(target):
                problem(f"service {name!r} waits for {target!r} to be healthy, but {target!r} has no healthcheck")
            if condition == "service_completed_successfully":
                restart = str(services[target].get("restart", "no"))
                if restart not in ("no", "on-failure") and not restart.startswith("on-failure:"):
                    problem(f"one-shot service {target!r} has restart {restart!r}; it would never complete")
            target_profiles = _profiles(services[target])
            if target_profiles and not (own_profiles and own_profiles <= target_profiles):
                active = sorted(own_profiles) or "always"
                problem(
                    f"service {name!r} (profiles: {active}) depends on {target!r}, "
                    f"which only runs with profiles {sorted(target_profiles)}"
                )

    # Profiles.
    all_profiles = set().union(*(_profiles(spec) for spec in services.values()))
    for profile in REQUIRED_PROFILES:
        if profile not in all_profiles:
            problem(f"no service in profile {profile!r}")

    # Platform-image services: the right command and the engines' addresses.
    for name, expected in EXPECTED_COMMANDS.items():
        if name not in services:
            continue
        words = _command_words(services[name])
        if not words or words[0] != expected:
            problem(f"service {name!r} should run `mlplatform {expected} ...`, its command is {words!r}")
        environment = _environment(services[name])
        for key in REQUIRED_PLATFORM_ENV:
            if not environment.get(key):
                problem(f"service {name!r} does not set {key}")

    # Named volumes are declared at the top level.
    declared_volumes = set(_as_dict(document.get("volumes")))
    for name, spec in sorted(services.items()):
        for source in _volume_sources(spec):
            if _is_named_volume(source) and source not in declared_volumes:
                problem(f"service {name!r} mounts undeclared named volume {source!r}")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Statically check compose.yaml and the Dockerfile.")
    parser.add_argument("--compose", type=Path, default=ROOT / "compose.yaml", help="compose file to check")
    parser.add_argument("--dockerfile", type=Path, default=ROOT / "Dockerfile", help="Dockerfile to check")
    args = parser.parse_args(argv)

    problems = check_compose(args.compose) + check_dockerfile(args.dockerfile)
    if problems:
        for line in problems:
            print(f"error: {line}", file=sys.stderr)
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    print(f"ok: {args.compose} and {args.dockerfile} pass the static checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
