"""Tables, ratios and targets of `bench/serving.py` (printed with rich, returned for the JSON output)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

PLATFORM = "a platform"
CHAIN = "b feast+mlflow"
MLFLOW = "c mlflow"
ASYNCIO = "asyncio"
WRK = "wrk"
ONLINE_ONLY = "a' online read"
"""--breakdown: the platform's Feast-compatible online read alone (b's first request)."""
VALUES_IN_BODY = "a' values in body"
"""--breakdown: the platform's predict with the feature values in the body (c's request)."""

THROUGHPUT_VS_CHAIN = 5.0
P99_VS_CHAIN = 0.25
THROUGHPUT_VS_MLFLOW = 1.5


@dataclass
class Cell:
    system: str
    client: str
    entities: int
    connections: int
    requests: int
    errors: int
    throughput: float
    p50_ms: float
    p99_ms: float
    client_cpu: float | None
    """Cores the load generator used during the window (asyncio client only)."""


def find(cells: list[Cell], system: str, client: str, entities: int, connections: int) -> Cell | None:
    for cell in cells:
        if (cell.system, cell.client, cell.entities, cell.connections) == (system, client, entities, connections):
            return cell
    return None


def _ratio(ours: Cell | None, theirs: Cell | None, field: str) -> float | None:
    if ours is None or theirs is None:
        return None
    mine, other = float(getattr(ours, field)), float(getattr(theirs, field))
    if other == 0 or math.isnan(mine) or math.isnan(other):
        return None
    return round(mine / other, 3)


def ratios(cells: list[Cell]) -> list[dict[str, Any]]:
    """Per (entities, connections): a/b throughput and p99 and a/c throughput with the one client all three
    share (asyncio), a/c with wrk, and whether each target is met (None: a side was not measured)."""
    rows = []
    for entities in sorted({c.entities for c in cells}):
        for connections in sorted({c.connections for c in cells}):
            a = find(cells, PLATFORM, ASYNCIO, entities, connections)
            b = find(cells, CHAIN, ASYNCIO, entities, connections)
            c = find(cells, MLFLOW, ASYNCIO, entities, connections)
            a_wrk = find(cells, PLATFORM, WRK, entities, connections)
            c_wrk = find(cells, MLFLOW, WRK, entities, connections)
            ab = _ratio(a, b, "throughput")
            ab_p99 = _ratio(a, b, "p99_ms")
            ac = _ratio(a, c, "throughput")
            ac_wrk = _ratio(a_wrk, c_wrk, "throughput")
            rows.append(
                {
                    "entities": entities,
                    "connections": connections,
                    "a_b_throughput": ab,
                    "a_b_p99": ab_p99,
                    "a_c_throughput": ac,
                    "a_c_throughput_wrk": ac_wrk,
                    "target_vs_b_met": None
                    if ab is None or ab_p99 is None
                    else (ab >= THROUGHPUT_VS_CHAIN and ab_p99 <= P99_VS_CHAIN),
                    "target_vs_c_met": None if ac is None else ac >= THROUGHPUT_VS_MLFLOW,
                }
            )
    return rows


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _met(value: bool | None) -> str:
    return {None: "[yellow]n/a[/]", True: "[green]met[/]", False: "[red]not met[/]"}[value]


def print_report(console: Console, cells: list[Cell], rows: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    table = Table(title="Cells (closed loop; a request = one prediction with its features)")
    for name in ("system", "client", "entities", "conns", "req/s", "p50 ms", "p99 ms", "errors", "client CPU"):
        table.add_column(name, justify="left" if name in {"system", "client"} else "right")
    for cell in sorted(cells, key=lambda c: (c.entities, c.connections, c.system, c.client)):
        table.add_row(
            cell.system,
            cell.client,
            str(cell.entities),
            str(cell.connections),
            _num(cell.throughput),
            _num(cell.p50_ms, 2),
            _num(cell.p99_ms, 2),
            str(cell.errors) if not cell.errors else f"[red]{cell.errors}[/]",
            "-" if cell.client_cpu is None else f"{cell.client_cpu:.2f}",
        )
    console.print(table)

    targets = Table(
        title=f"Ratios and targets: a >= {THROUGHPUT_VS_CHAIN}x b throughput with p99 <= {P99_VS_CHAIN}x b's; "
        f"a >= {THROUGHPUT_VS_MLFLOW}x c throughput (the asyncio client for all three; a/c with wrk beside)"
    )
    for name in ("entities", "conns", "a/b req/s", "a/b p99", "vs b", "a/c req/s", "a/c req/s (wrk)", "vs c"):
        targets.add_column(name, justify="right")
    for row in rows:
        targets.add_row(
            str(row["entities"]),
            str(row["connections"]),
            _num(row["a_b_throughput"], 2),
            _num(row["a_b_p99"], 3),
            _met(row["target_vs_b_met"]),
            _num(row["a_c_throughput"], 2),
            _num(row["a_c_throughput_wrk"], 2),
            _met(row["target_vs_c_met"]),
        )
    console.print(targets)

    memory = extra.get("memory") or {}
    if memory:
        table = Table(title="Memory (MB) after the cells: RSS, and USS = pages only this process holds")
        for name in ("process", "pid", "RSS", "USS", "command"):
            table.add_column(name, justify="left" if name in {"process", "command"} else "right")
        for role, processes in memory.items():
            for process in processes:
                table.add_row(
                    role,
                    str(process["pid"]),
                    _num(process["rss_mb"]),
                    _num(process.get("uss_mb")),
                    process["command"][:90],
                )
        console.print(table)
    workers = (extra.get("deployment_workers") or {}).get("workers") or []
    for worker in workers:
        console.print(
            f"platform model worker (its deployment's /workers): slot {worker.get('slot')} pid {worker.get('pid')} "
            f"RSS {worker.get('rss_mb')} MB, ready {worker.get('ready')}"
        )
    for key, text in (
        ("deploy_seconds", "POST deployments -> active: {:.2f} s"),
        ("platform_unavailable", "platform side (a) not measured: {}"),
        ("load_average", "load average (1, 5, 15 min) before / after: {}"),
    ):
        if extra.get(key) is not None:
            console.print(text.format(extra[key]))
