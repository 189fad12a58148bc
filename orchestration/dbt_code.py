"""The dbt project as code: its hash, its parsed manifest, and the asset keys Dagster gives its
nodes. The dbt assets, the publish asset and the sensors read the graph from here, so none of
them imports another asset module.

The manifest is made by `dbt parse`: by `make setup`, by `servisbot-metrics run` and `backfill`
before they load the definitions, and by `dagster dev` when it loads the code location (as
dagster-dbt's `prepare_if_dev`). Importing the code anywhere else never runs dbt.

dagster-dbt, and the dbt modules it imports (about 2 s), are imported on the first use of its
objects (`dbt_project`, `TRANSLATOR`, `dbt_cli()`, the manifest): a CLI run with nothing new
hashes the dbt code and loads no definitions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from importlib.metadata import version as installed_version
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import dagster as dg

from orchestration.engines import Engine
from orchestration.settings import DBT_PROJECT_DIR, ENGINES

if TYPE_CHECKING:
    from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject

    dbt_project: DbtProject
    TRANSLATOR: DagsterDbtTranslator

DBT_CODE_DIRS = ("models", "macros", "tests")
DBT_ASSETS_OP = "dbt_models"  # the op of the @dbt_assets definition (orchestration/assets/dbt.py)


@cache
def _dagster_dbt() -> SimpleNamespace:
    """dagster-dbt's objects for this project, made on first use."""
    from functools import cached_property

    from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject
    from packaging.version import Version

    class DbtCli(DbtCliResource):
        """dagster-dbt's dbt resource, without two fixed costs it adds to every dbt command and
        that this pipeline does not use (together about 3.5 CPU-s of a small run):

        - `dbt --version` in a subprocess (a whole dbt start-up, and a query to PyPI for the
          latest release) to learn the version: the executable is this environment's own dbt
          (settings.DBT_EXECUTABLE), so the version is the installed dbt-core's;
        - a dbt adapter built in this process (dbt's CLI imported, the profile and the project
          loaded, the macros parsed), which only serves `fetch_row_counts` and
          `fetch_column_metadata`: the dbt asset streams the events as they are.
        """

        @cached_property
        def _cli_version(self) -> Version:
            return Version(installed_version("dbt-core"))

        def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
            return None

    class MetricsDbtTranslator(DagsterDbtTranslator):
        """Asset keys follow the warehouse: sources `raw/<table>`, models `<schema>/<model>`."""

        def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
            return _asset_key(dbt_resource_props)

        def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
            return dbt_resource_props["config"].get("schema") or "dbt"

    return SimpleNamespace(
        DbtCli=DbtCli,
        dbt_project=DbtProject(project_dir=DBT_PROJECT_DIR),
        TRANSLATOR=MetricsDbtTranslator(),
    )


def __getattr__(name: str) -> Any:  # `dbt_code.dbt_project` and `dbt_code.TRANSLATOR`
    if name in ("dbt_project", "TRANSLATOR"):
        return getattr(_dagster_dbt(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def dbt_cli(engine: str = ENGINES[0]) -> DbtCliResource:
    """The dbt resource of the definitions (resource key `dbt`) and of `prepare`: the dbt of
    `engine` (engines.Engine), ended with the process that started it (ended_with_parent)."""
    objects = _dagster_dbt()
    return objects.DbtCli(
        project_dir=objects.dbt_project, **ended_with_parent(Engine(engine).dbt_executable)
    )


def ended_with_parent(dbt_executable: str) -> dict[str, Any]:
    """The dbt resource's command (`dbt_executable`, then `global_config_flags`, then dbt's
    arguments) for a dbt that the kernel ends (SIGTERM) when the process that started it dies:
    util-linux's `setpriv --pdeathsig TERM` (Linux's PR_SET_PDEATHSIG), which sets that signal
    and then executes dbt in its place (same process). The kernel ties it to the thread that
    started dbt: the dbt step starts dbt and waits for it in one thread. Without it, a run
    killed with SIGKILL (the OOM killer, `kill -9` of the run worker) leaves its dbt building:
    it holds build.duckdb's write lock, so the next run's dbt fails on the lock until the
    orphan ends. A killed dbt leaves the build unfinished, as a killed run does; the next run
    rebuilds (planner.full_refresh_reason). Where setpriv is missing (not Linux), dbt runs as
    it is."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return {"dbt_executable": dbt_executable}
    return {
        "dbt_executable": setpriv,
        "global_config_flags": ["--pdeathsig", "TERM", "--", dbt_executable],
    }


def _asset_key(dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
    if dbt_resource_props["resource_type"] == "source":
        return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
    return dg.AssetKey([dbt_resource_props["config"]["schema"], dbt_resource_props["name"]])


def _code_files() -> list:
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in DBT_CODE_DIRS:
        files += sorted(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return files


def code_hash() -> str:
    """Changes with any file of the dbt code (models, macros, tests, dbt_project.yml)."""
    digest = hashlib.sha256()
    for path in _code_files():
        digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def manifest_is_stale() -> bool:
    manifest_path = _dagster_dbt().dbt_project.manifest_path
    if not manifest_path.exists():
        return True
    built = manifest_path.stat().st_mtime
    return any(p.stat().st_mtime > built for p in _code_files())


def prepare() -> None:
    """`dbt parse` when the manifest is missing or older than the dbt code."""
    if manifest_is_stale():
        target = _dagster_dbt().dbt_project.target_path
        dbt_cli().cli(["parse", "--quiet"], target_path=target).wait()
        manifest.cache_clear()


@cache
def manifest() -> dict[str, Any]:
    manifest_path = _dagster_dbt().dbt_project.manifest_path
    if not manifest_path.exists():
        raise FileNotFoundError(f"no dbt manifest at {manifest_path}: run `make setup` (dbt parse)")
    return json.loads(manifest_path.read_text())


if os.environ.get("DAGSTER_IS_DEV_CLI"):  # as dagster-dbt's prepare_if_dev: the code is edited
    prepare()


def model_asset_keys(
    unique_ids: Iterable[str] | None = None, schemas: Iterable[str] | None = None
) -> set[dg.AssetKey]:
    """The asset keys of the given models (all when None), optionally of some schemas only."""
    nodes = manifest()["nodes"]
    ids = unique_ids if unique_ids is not None else nodes
    keys = {
        _asset_key(nodes[uid])
        for uid in ids
        if uid.startswith("model.") and nodes[uid]["config"]["materialized"] != "ephemeral"
    }
    return {k for k in keys if schemas is None or k.path[0] in set(schemas)}


def dbt_test_check_keys(assets: set[dg.AssetKey]) -> set[dg.AssetCheckKey]:
    """The asset checks (dbt data tests, as dagster-dbt names them) on `assets`: a generic
    test is on the node it is attached to, a singular test on its one upstream node."""
    nodes = manifest()["nodes"]
    keys = set()
    for node in nodes.values():
        if node["resource_type"] != "test":
            continue
        upstream = node.get("depends_on", {}).get("nodes", [])
        attached = node.get("attached_node") or (upstream[0] if len(upstream) == 1 else None)
        if attached in nodes:
            asset = _asset_key(nodes[attached])
            if asset in assets:
                keys.add(dg.AssetCheckKey(asset, node["name"]))
    return keys
