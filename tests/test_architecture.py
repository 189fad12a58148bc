"""The structure docs/architecture.md describes, checked: no asset module imports another, the
sensors and jobs import none, and the planner does no I/O of its own."""

from __future__ import annotations

import ast
from pathlib import Path

ORCHESTRATION = Path(__file__).resolve().parent.parent / "orchestration"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_asset_module_imports_another_and_wiring_imports_none():
    for path in [*(ORCHESTRATION / "assets").glob("*.py"), ORCHESTRATION / "automation.py",
                 ORCHESTRATION / "jobs.py"]:  # fmt: skip
        assets = {n for n in _imports(path) if n.startswith("orchestration.assets")}
        assert not assets, f"{path.name} imports {sorted(assets)}"


def test_the_planner_reads_no_file_runs_no_query_and_calls_no_dagster():
    imported = _imports(ORCHESTRATION / "planner.py")
    for module in ("dagster", "duckdb", "os", "pathlib", "subprocess", "json", "dagster_dbt"):
        assert module not in imported and not any(n.startswith(module + ".") for n in imported)
