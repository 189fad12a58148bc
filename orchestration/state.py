"""The pipeline's state between runs: every file's path, its typed record, its read and its
atomic write. Nothing else in the code opens a state file by name.

    STATE/                              beside the warehouse ("<stem>.state") or SBM_STATE_DIR
      raw/                              the raw layer, owned by ingest/raw_layer.py (events,
                                        rejected lines, one manifest per delivery day)
      raw/quality/YYYY-MM-DD.json       DayQuality: the day's data-quality outcome
      build.duckdb                      the database dbt builds into (engine duckdb)
      spark/warehouse/, spark/metastore the tables dbt builds on Spark (engine spark), as
                                        Parquet, and their catalog; spark/published-views.duckdb
                                        the views the publish reads them through (engines.py)
      build.json                        BuildRecord: what the build was built from
      config_versions.jsonl             ConfigVersion per line: the configurations applied
      metrics-config.yaml               the configuration apply_config_job wrote (optional)
      dbt-target/ gx/ dagster/          dbt's artifacts, Great Expectations, Dagster's instance
      run.lock command.lock             OS locks (orchestration/locks.py)

The published warehouse carries its own stamp (PublishStamp, table marts.publish_info): what
it was built from is read from the file Superset reads, so it cannot disagree with it. Each
fact is stored once; everything else about a run (its steps, logs, materializations) is in
Dagster's own run storage, which this module does not duplicate.

Writes go to a temporary file beside the target and are renamed over it, so a reader or a
killed run sees the old record or the new one.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict

import duckdb

from orchestration.settings import ENGINES


def write_atomically(target: Path, text: str) -> None:
    """Replace `target` with `text` in one rename (the temporary file is synced first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class WarehousePaths:
    """The published warehouse and the state kept beside it between runs."""

    warehouse: Path
    state: Path

    @classmethod
    def for_warehouse(cls, warehouse: Path, state: Path | None = None) -> WarehousePaths:
        warehouse = warehouse.expanduser().resolve()
        state = (
            state.expanduser().resolve()
            if state
            else warehouse.with_name(f"{warehouse.stem}.state")
        )
        return cls(warehouse, state)

    @property
    def raw(self) -> Path:
        """Raw layer: validated events and rejected lines as Parquet per delivery day."""
        return self.state / "raw"

    @property
    def build_db(self) -> Path:
        """The DuckDB file dbt builds into; only `publish` copies out of it."""
        return self.state / "build.duckdb"

    @property
    def spark_warehouse(self) -> Path:
        """The Spark engine's tables, as Parquet: <schema>.db/<table>/ (profiles.yml)."""
        return self.state / "spark" / "warehouse"

    @property
    def dbt_target(self) -> Path:
        """dbt's artifacts (manifest, run results, logs) of this warehouse's builds."""
        return self.state / "dbt-target"

    @property
    def dagster_home(self) -> Path:
        """Dagster instance (run history, event log) for this warehouse."""
        return self.state / "dagster"

    @property
    def lock(self) -> Path:
        """Held by every step that writes the state (ingest, dbt, checks, publish)."""
        return self.state / "run.lock"

    @property
    def command_lock(self) -> Path:
        """Held by a whole `servisbot-metrics run` or `backfill`: CLI runs go one after another."""
        return self.state / "command.lock"

    @property
    def quality(self) -> Path:
        """Data-quality outcome of each ingested delivery day (the publish gate reads it)."""
        return self.raw / "quality"

    @property
    def gx_root(self) -> Path:
        """Great Expectations project (suites, validation results, Data Docs)."""
        return self.state / "gx"

    @property
    def data_docs(self) -> Path:
        """Great Expectations Data Docs: every validation of the raw days, as HTML."""
        return self.gx_root / "uncommitted" / "data_docs" / "local_site" / "index.html"

    @property
    def build_record(self) -> Path:
        """The definition (configuration + dbt code) the build database was last built with."""
        return self.state / "build.json"

    @property
    def config_versions(self) -> Path:
        """Every configuration the warehouse was built with, one JSON object per line."""
        return self.state / "config_versions.jsonl"

    @property
    def config_file(self) -> Path:
        """The warehouse's own configuration document when none is given (--config, SBM_CONFIG):
        written by apply_config_job; absent means the built-in defaults."""
        return self.state / "metrics-config.yaml"


# --- the build database ---------------------------------------------------------------------


@dataclass(frozen=True)
class BuildRecord:
    """What the build database holds. `in_progress` from the start of a dbt build until it
    finished with every test passing: until then the database may hold a half-applied build."""

    definition_hash: str = ""
    code_hash: str = ""
    config_vars: dict[str, Any] | None = None  # the configuration's dbt vars
    raw_digest: str = ""  # the raw layer it was built from
    # the raw layer when it was built (raw_digest's, except after a partial build, which keeps
    # the previous raw_digest): a later one means another run has ingested since
    raw_digest_at_build: str = ""
    build_id: str = ""  # the Dagster run that built it
    in_progress: bool = False
    # dbt tests of the built models that the run did not select (a hand-picked Materialize)
    untested: list[str] = field(default_factory=list)
    engine: str = ENGINES[0]  # the engine that built it: where its tables are (engines.py)

    @property
    def is_finished(self) -> bool:
        return bool(self.build_id) and not self.in_progress


def read_build(paths: WarehousePaths) -> BuildRecord | None:
    """The record of the build database, or None when there is no build (or its tables are
    gone: DuckDB's build database, or Spark's tables)."""
    if not paths.build_record.exists():
        return None
    stored = json.loads(paths.build_record.read_text())
    known = {f.name for f in fields(BuildRecord)}
    record = BuildRecord(**{k: v for k, v in stored.items() if k in known})
    tables = paths.build_db if record.engine == ENGINES[0] else paths.spark_warehouse
    return record if tables.exists() else None


def write_build(paths: WarehousePaths, record: BuildRecord) -> None:
    write_atomically(paths.build_record, json.dumps(asdict(record), indent=2))


def mark_build_started(paths: WarehousePaths) -> None:
    """From now until write_build records the finished build, the next build is a full
    refresh (a run killed mid-way leaves a half-applied incremental build)."""
    previous = read_build(paths) or BuildRecord()
    write_build(paths, BuildRecord(**{**asdict(previous), "in_progress": True}))


# --- delivery days' data quality ------------------------------------------------------------


@dataclass(frozen=True)
class DayQuality:
    delivery_date: str
    passed: bool
    reject_ratio: float
    failures: list[str]
    ingest: str  # which ingest of the day was validated (manifest ingested_at + fingerprint)
    suite_version: str


def _quality_path(paths: WarehousePaths, day: str) -> Path:
    return paths.quality / f"{day}.json"


def read_day_quality(paths: WarehousePaths, day: str) -> DayQuality | None:
    path = _quality_path(paths, day)
    return DayQuality(**json.loads(path.read_text())) if path.exists() else None


def write_day_quality(paths: WarehousePaths, quality: DayQuality) -> None:
    write_atomically(
        _quality_path(paths, quality.delivery_date), json.dumps(asdict(quality), indent=2)
    )


# --- configuration history ------------------------------------------------------------------


class ConfigVersion(TypedDict):
    version: int
    applied_at: str  # UTC, ISO 8601 without offset
    hash: str  # MetricsConfig.content_hash
    source: str  # where the document came from
    run_id: str  # the Dagster run that applied it
    content: str  # the effective document, JSON in document order
    diff: str  # what changed from the version before


def read_config_versions(paths: WarehousePaths) -> list[ConfigVersion]:
    path = paths.config_versions
    if not path.exists():
        return []
    versions = []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    for number, line in enumerate(lines, 1):
        try:
            versions.append(json.loads(line))
        except json.JSONDecodeError as exc:
            if number < len(lines):
                raise StateUnreadable(
                    f"{path}, line {number}: not a JSON record ({exc.msg}): the configuration "
                    "history is damaged; repair or remove that line"
                ) from None
            # a last line torn by a crash while it was appended: that version was not applied
    return versions


def append_config_version(paths: WarehousePaths, version: ConfigVersion) -> None:
    """Appended and synced: the history only grows (a torn last line is ignored on read)."""
    paths.state.mkdir(parents=True, exist_ok=True)
    with paths.config_versions.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(version, sort_keys=True, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# --- the published warehouse ----------------------------------------------------------------


@dataclass(frozen=True)
class PublishStamp:
    """What a published warehouse is: written into it as marts.publish_info (key, value)."""

    published_at: str
    config_hash: str  # the configuration the build was made with
    config_version: str  # its number in config_versions.jsonl
    definition_hash: str  # configuration + dbt code
    raw_digest: str  # the raw layer the build read
    build_id: str  # the run that built the marts
    quality_gate: str  # the raw-day suite's version, maximum reject ratio included
    dagster_run_id: str  # the run that published
    engine: str = ENGINES[0]  # the engine that built the marts (settings.ENGINES)

    def rows(self) -> list[tuple[str, str]]:
        return sorted((k, str(v)) for k, v in asdict(self).items())


class StateUnreadable(RuntimeError):
    """A state record exists but cannot be read now; the message says why."""


def read_publish_stamp(paths: WarehousePaths) -> PublishStamp | None:
    """The stamp inside the published warehouse, or None when nothing was published (or the
    file was not published by this tool). StateUnreadable when the file cannot be opened (a
    process holds it read-write, e.g. a DuckDB session not opened read-only)."""
    if not paths.warehouse.exists():
        return None
    try:
        con = duckdb.connect(str(paths.warehouse), read_only=True)
    except duckdb.Error as exc:
        raise StateUnreadable(
            f"cannot open the published warehouse {paths.warehouse} read-only: "
            f"{str(exc).splitlines()[0]}"
        ) from None
    try:
        rows = dict(con.execute("SELECT key, value FROM marts.publish_info").fetchall())
    except duckdb.CatalogException:
        return None  # not published by this tool
    finally:
        con.close()
    known = {f.name for f in fields(PublishStamp)}
    required = {f.name for f in fields(PublishStamp) if f.default is MISSING}
    if not required <= rows.keys():
        return None
    return PublishStamp(**{k: rows[k] for k in known & rows.keys()})
