"""Run the real Schemathesis CLI (`st run`, pinned in the dev group) against a served platform, and read its
verdict from the JSON report it writes.

The CLI, not the pytest plugin: only the CLI reports the operations a run could not exercise ("missing test
data", "mostly rejected generated data"), and its terminal output (every failure with a `curl` that
reproduces it) is what a CI log should show. The test fails with that output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).with_name("schemathesis.toml")
HOOKS = Path(__file__).with_name("hooks.py")
TAGS_VARIABLE = "CONTRACT_TAGS"
"""Comma-separated OpenAPI tags to test (e.g. `catalogue,features`); unset: the whole document."""
SEED_VARIABLE = "CONTRACT_SEED"
"""A Schemathesis seed to replay the data of an earlier run (its output prints the seed it used); `random` draws
a new one."""
DEFAULT_SEED = "260799404071667244839938241793970206380"
"""The seed CI runs with, so that whether a change lands does not depend on the draw: with a fresh seed per run,
a state-dependent operation (a stage change most of whose moves a version's stage refuses with a documented 409)
was now and then reported as 'mostly rejected'. Explore with `CONTRACT_SEED=random`."""


@dataclass
class ContractReport:
    output: str
    """The CLI's terminal output: failures with reproduction `curl`s, warnings, the summary."""
    document: dict[str, Any]
    """The CLI's JSON report (`--report json`)."""

    def problems(self) -> list[str]:
        """What makes the run a failure, one line each (empty: the document tells the truth)."""
        found = [
            f"{failure['title']} ({failure['code']}): {', '.join(failure['operations'])}"
            for failure in self.document.get("failures", [])
        ]
        for kind, labels in self.document.get("warnings", {}).items():
            if labels and kind in failing_warnings():
                found.append(f"warning {kind}: {', '.join(labels)}")
        found += [f"error: {error['title']} ({error['count']}x)" for error in self.document.get("errors", [])]
        if not self.document.get("complete"):
            found.append(f"the run did not complete (stop reason: {self.document.get('stop_reason')})")
        if self.document.get("exit_code") not in (0, None) and not found:
            found.append(f"st run exited with {self.document.get('exit_code')}")
        return found


def failing_warnings() -> list[str]:
    """The warnings the config's `warnings.fail-on` names: operations the run could not exercise."""
    return list(tomllib.loads(CONFIG.read_text())["warnings"]["fail-on"])


def selected_tags() -> list[str]:
    return [tag.strip() for tag in os.environ.get(TAGS_VARIABLE, "").split(",") if tag.strip()]


def run_schemathesis(base_url: str, fixtures: dict[str, str], report_dir: Path, timeout: float = 900) -> ContractReport:
    """`st run` over `base_url`'s document with `fixtures` (the `CONTRACT_*` placeholders of the config)."""
    report = report_dir / "schemathesis.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{base_url}/schema/openapi.json",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    for tag in selected_tags():
        command += ["--include-tag", tag]
    seed = os.environ.get(SEED_VARIABLE) or DEFAULT_SEED
    if seed != "random":
        command += ["--seed", seed]
    completed = subprocess.run(
        command,
        env={**os.environ, **fixtures, "SCHEMATHESIS_HOOKS": str(HOOKS)},
        cwd=report_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    output = completed.stdout + completed.stderr
    if not report.exists():
        raise AssertionError(f"st run wrote no report (exit {completed.returncode}):\n{output}")
    return ContractReport(output=output, document=json.loads(report.read_text()))
