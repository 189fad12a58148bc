"""Publish: the contract's schemas out of the build database, swapped onto the warehouse path in
one rename, so a reader sees the old version or the new one, never half; the work is
proportional to what changed.

Layout (one warehouse `W`):

    W                                  small DuckDB file: the small tables copied natively, and
                                       one view per large fact table over its Parquet files
    W.data/v<N>/<schema>/<table>/<date column>=YYYY-MM-DD/data_0.parquet
    W.data/v<N>/manifest.json          per (table, date): fingerprint and files

The large fact tables (PARTITIONED) are written as Parquet, one folder per value of their one
DATE column, in a new version folder `v<N>`. A partition whose fingerprint (row count, sum and
xor of `hash(row)`, with the table's columns and the DuckDB version) equals the previous
version's is a hard link to the previous version's file: only changed partitions are written,
and a partition that no longer exists is simply not in the new version. Files are never written
in place (a link is shared), only created. The version folder is complete and renamed into place
before the new DuckDB file, whose views name that version's files, replaces `W`.

`marts.publish_info` (the one record of what was published) names the version (`data_version`).
The last KEEP_VERSIONS versions are kept, and any replaced less than KEEP_SECONDS ago, so a
reader that opened an earlier file keeps reading consistent data; older ones are deleted after
the swap (hard links: a deleted version frees only the files no later version shares). A
publish killed at any point leaves `W` and its versions as they were; the next publish removes
what it left.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.settings import PUBLISH_MEMORY_LIMIT
from orchestration.state import PublishStamp

REQUIRED_TABLES = (  # section 4 of the contract
    "marts.usage_daily",
    "marts.intent_daily",
    "marts.api_daily",
    "marts.kpi_daily",
    "marts.fct_sessions",
    "audit.rejected_events",
)
# Published as Parquet partitioned by their one DATE column; every other table is copied
# natively into the warehouse file (the daily marts: small, and the dashboards' fast path).
PARTITIONED = ("marts.fct_*", "audit.rejected_events")
KEEP_VERSIONS = 3  # version folders kept after a publish: the new one and the two before
# ... and any version replaced less than this long ago: a process keeps reading the file it first
# opened while it holds any connection to that path (DuckDB shares one instance per path), so
# under continuous reads it may lag several quick publishes behind
KEEP_SECONDS = 600.0
DATA_VERSION_KEY = "data_version"  # marts.publish_info key: the version folder the file reads
DATA_DIR_KEY = "data_dir"  # ... and the folder its views read (a copy of the file reads it too)
MANIFEST = "manifest.json"
NULL_PARTITION = "null"  # rows whose date is NULL


class PublishError(RuntimeError):
    pass


@dataclass(frozen=True)
class PublishResult:
    tables: dict[str, int]  # "schema.table" -> rows
    size_bytes: int  # the DuckDB file
    version: int  # the data version folder it reads
    written: int  # partitions written in this publish
    linked: int  # partitions hard-linked from the previous version


def data_dir(warehouse: Path) -> Path:
    """The folder of the warehouse's Parquet versions: `<warehouse>.data`."""
    return warehouse.with_name(f"{warehouse.name}.data")


def version_dirs(warehouse: Path) -> dict[int, Path]:
    """The complete version folders, by number."""
    found: dict[int, Path] = {}
    folder = data_dir(warehouse)
    if folder.is_dir():
        for path in folder.iterdir():
            if path.is_dir() and path.name.startswith("v") and path.name[1:].isdigit():
                found[int(path.name[1:])] = path
    return found


def published_version(warehouse: Path) -> int | None:
    """The version folder the published file reads, or None (nothing published, a file
    published before versions existed, or one that cannot be opened now)."""
    if not warehouse.exists():
        return None
    con = duckdb.connect(":memory:")  # not connect(path): no shared instance of an old file
    try:
        con.execute(f"ATTACH '{sql_str(warehouse)}' AS w (READ_ONLY)")
        row = con.execute(
            "SELECT value FROM w.marts.publish_info WHERE key = ?", [DATA_VERSION_KEY]
        ).fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return int(row[0]) if row and str(row[0]).isdigit() else None


def replace_refusal(warehouse: Path) -> str | None:
    """Why `warehouse` must not be published over: it is a folder, or a file this tool did not
    publish (no `<warehouse>.data` folder, and no marts.publish_info in it). A published file
    that can no longer be opened is replaced (a damaged warehouse is repaired)."""
    if warehouse.is_dir():
        return f"{warehouse} is a folder: the warehouse is the DuckDB file the pipeline publishes"
    if not warehouse.exists() or data_dir(warehouse).is_dir():
        return None
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{sql_str(warehouse)}' AS w (READ_ONLY)")
        con.execute("SELECT count(*) FROM w.marts.publish_info").fetchone()
        return None
    except duckdb.Error:
        return (
            f"{warehouse} exists and is not a warehouse servisbot-metrics published (it has no "
            "marts.publish_info); it is left as it is: name another warehouse file, or move it"
        )
    finally:
        con.close()


def sql_str(value: object) -> str:
    """`value` as the text of a SQL string literal (quotes doubled; also engines.py's)."""
    return str(value).replace("'", "''")


def ident(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _link(source: Path, target: Path) -> None:
    """A hard link (the file is never written again, so it can be shared), or a copy on a file
    system without hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
        _fsync(target)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_fsync_dir = _fsync


@dataclass
class _Table:
    schema: str
    name: str
    columns: list[tuple[str, str]]  # (name, type) in order

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"

    def date_column(self, partitioned: tuple[str, ...]) -> str | None:
        """The partition column: the table's one DATE column, when it matches `partitioned`."""
        if not any(fnmatch.fnmatchcase(self.key, pattern) for pattern in partitioned):
            return None
        dates = [name for name, type_ in self.columns if type_ == "DATE"]
        return dates[0] if len(dates) == 1 else None


def _build_tables(con: duckdb.DuckDBPyConnection, schemas: tuple[str, ...]) -> list[_Table]:
    rows = con.execute(
        "SELECT schema_name, table_name, list(column_name ORDER BY column_index), "
        "list(data_type ORDER BY column_index) FROM duckdb_columns() "
        "WHERE database_name = 'build' AND schema_name IN "
        f"({', '.join('?' for _ in schemas)}) "
        "AND (schema_name, table_name) IN (SELECT (schema_name, table_name) FROM duckdb_tables() "
        "WHERE database_name = 'build' UNION ALL SELECT (schema_name, view_name) "
        "FROM duckdb_views() WHERE database_name = 'build') GROUP BY ALL ORDER BY ALL",
        list(schemas),
    ).fetchall()
    return [_Table(s, t, list(zip(names, types, strict=True))) for s, t, names, types in rows]


def _fingerprints(
    con: duckdb.DuckDBPyConnection, table: _Table, column: str
) -> dict[str, list[str]]:
    """Per partition (its date as YYYY-MM-DD, or NULL_PARTITION): row count, sum and xor of
    the rows' hashes. Equal for equal multisets of rows; a different multiset collides only if
    both 64-bit hash aggregates collide at once."""
    row_hash = f"hash({', '.join(ident(c) for c, _ in table.columns)})"
    rows = con.execute(
        f"SELECT coalesce(strftime({ident(column)}, '%Y-%m-%d'), '{NULL_PARTITION}'), "
        f"count(*), sum({row_hash}::HUGEINT)::VARCHAR, bit_xor({row_hash})::VARCHAR "
        f"FROM build.{ident(table.schema)}.{ident(table.name)} GROUP BY ALL"
    ).fetchall()
    return {day: [str(n), total, xor] for day, n, total, xor in rows}


def _write_partitions(
    con: duckdb.DuckDBPyConnection,
    table: _Table,
    column: str,
    days: list[str],
    target: Path,
) -> dict[str, list[str]]:
    """Write the partitions `days` of `table` under `target` (its folder in the new version).
    Returns each day's files, relative to `target`."""
    source = f"build.{ident(table.schema)}.{ident(table.name)}"
    files: dict[str, list[str]] = {}
    target.parent.mkdir(parents=True, exist_ok=True)
    dated = [d for d in days if d != NULL_PARTITION]
    if dated:
        con.execute(
            f"COPY (SELECT * FROM {source} WHERE {ident(column)} IN "
            f"(SELECT unnest(?::DATE[]))) TO '{sql_str(target)}' (FORMAT parquet, "
            f"PARTITION_BY ({ident(column)}), WRITE_PARTITION_COLUMNS true, "
            "FILENAME_PATTERN 'data_{i}')",
            [dated],
        )
        for day in dated:
            folder = target / f"{column}={day}"
            files[day] = sorted(p.relative_to(target).as_posix() for p in folder.iterdir())
    if NULL_PARTITION in days:
        folder = target / f"{column}={NULL_PARTITION}"
        folder.mkdir(parents=True)
        con.execute(
            f"COPY (SELECT * FROM {source} WHERE {ident(column)} IS NULL) "
            f"TO '{sql_str(folder / 'data_0.parquet')}' (FORMAT parquet)"
        )
        files[NULL_PARTITION] = [f"{column}={NULL_PARTITION}/data_0.parquet"]
    for names in files.values():
        for name in names:
            _fsync(target / name)
    return files


def _view_sql(table: _Table, files: list[Path]) -> str:
    """A view with the table's columns in their order and types over `files`."""
    columns = ", ".join(f"CAST({ident(c)} AS {t}) AS {ident(c)}" for c, t in table.columns)
    paths = ", ".join(f"'{sql_str(p)}'" for p in files)
    return (
        f"CREATE VIEW {ident(table.schema)}.{ident(table.name)} AS SELECT {columns} "
        f"FROM read_parquet([{paths}], hive_partitioning = false)"
    )


def _clean_leftovers(warehouse: Path, current: int | None) -> None:
    """Remove what a killed publish left (the caller holds the writer lock): temporary DuckDB
    files, unfinished version folders, and finished ones the published file does not read
    yet (newer than `current`)."""
    for stale in warehouse.parent.glob(f".{warehouse.name}.*.publishing*"):
        stale.unlink(missing_ok=True)
    folder = data_dir(warehouse)
    if folder.is_dir():
        for stale in folder.glob(".v*.publishing"):
            shutil.rmtree(stale, ignore_errors=True)
    if current is not None:
        for number, path in version_dirs(warehouse).items():
            if number > current:
                shutil.rmtree(path, ignore_errors=True)


def _previous_manifest(warehouse: Path, current: int | None) -> dict:
    if current is None:
        return {}
    path = data_dir(warehouse) / f"v{current}" / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if manifest.get("duckdb") == duckdb.__version__ else {}


def prune_versions(
    warehouse: Path, keep: int = KEEP_VERSIONS, keep_seconds: float | None = None
) -> list[int]:
    """Delete the version folders older than the newest `keep` that were replaced (their next
    version written) more than `keep_seconds` (default KEEP_SECONDS) ago; returns the numbers
    deleted."""
    keep_seconds = KEEP_SECONDS if keep_seconds is None else keep_seconds
    versions = sorted(version_dirs(warehouse).items())
    now = time.time()
    deleted = []
    for i, (number, path) in enumerate(versions[: max(len(versions) - max(keep, 1), 0)]):
        successor = versions[i + 1][1]  # the version that replaced it
        try:
            replaced_at = (successor / MANIFEST).stat().st_mtime
        except OSError:
            replaced_at = 0.0
        if now - replaced_at >= keep_seconds:
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(number)
    return deleted


def publish(
    build_db: Path,
    warehouse: Path,
    schemas: tuple[str, ...],
    stamp: PublishStamp,
    partitioned: tuple[str, ...] = PARTITIONED,
) -> PublishResult:
    """Atomically replace `warehouse` with the tables of `schemas` from `build_db`.

    `stamp` is written to `marts.publish_info` (key, value) so every copy says what it is (the
    one record of what was published: state.read_publish_stamp), with the data version it
    reads, and its `published_at` into `marts.pipeline_status.last_published_at`.
    `partitioned`: the tables (fnmatch patterns) published as Parquet; () copies every table
    (as before Parquet versions; benchmarks/publish_change.py compares the two).
    """
    if refusal := replace_refusal(warehouse):
        raise PublishError(refusal)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    current = published_version(warehouse)
    _clean_leftovers(warehouse, current)
    previous = _previous_manifest(warehouse, current)
    previous_dir = data_dir(warehouse) / f"v{current}"
    version = max([*version_dirs(warehouse), current or 0]) + 1
    final = data_dir(warehouse) / f"v{version}"
    staging = data_dir(warehouse) / f".v{version}.publishing"
    staging.mkdir(parents=True)
    tmp = warehouse.with_name(f".{warehouse.name}.{os.getpid()}.publishing")
    tables: dict[str, int] = {}
    manifest: dict = {"version": version, "duckdb": duckdb.__version__, "tables": {}}
    written = linked = 0
    views: list[str] = []
    swapped = False
    try:
        con = duckdb.connect(str(tmp), config={"memory_limit": PUBLISH_MEMORY_LIMIT})
        try:
            con.execute(f"ATTACH '{sql_str(build_db)}' AS build (READ_ONLY)")
            found = _build_tables(con, schemas)
            for schema in schemas:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
            for table in found:
                column = table.date_column(partitioned)
                prints = _fingerprints(con, table, column) if column else {}
                if not prints:  # small, or empty: a native copy
                    con.execute(
                        f"CREATE TABLE {ident(table.schema)}.{ident(table.name)} AS "
                        f"SELECT * FROM build.{ident(table.schema)}.{ident(table.name)}"
                    )
                    tables[table.key] = con.execute(
                        f"SELECT count(*) FROM {ident(table.schema)}.{ident(table.name)}"
                    ).fetchone()[0]
                    continue
                assert column is not None
                before = previous.get("tables", {}).get(table.key, {})
                same_shape = before.get("columns") == [list(c) for c in table.columns]
                old = before.get("partitions", {}) if same_shape else {}
                keep = sorted(d for d, p in prints.items() if old.get(d, {}).get("fp") == p)
                change = sorted(set(prints) - set(keep))
                target = staging / table.schema / table.name
                files = _write_partitions(con, table, column, change, target)
                for day in keep:
                    files[day] = old[day]["files"]
                    for name in files[day]:
                        (target / name).parent.mkdir(parents=True, exist_ok=True)
                        _link(previous_dir / table.schema / table.name / name, target / name)
                written, linked = written + len(change), linked + len(keep)
                manifest["tables"][table.key] = {
                    "column": column,
                    "columns": [list(c) for c in table.columns],
                    "partitions": {d: {"fp": prints[d], "files": files[d]} for d in sorted(prints)},
                }
                base = final / table.schema / table.name  # where the files will be read
                views.append(_view_sql(table, [base / n for d in sorted(files) for n in files[d]]))
                tables[table.key] = sum(int(p[0]) for p in prints.values())
            missing = [t for t in REQUIRED_TABLES if t not in tables]
            if missing:
                raise PublishError(f"build database lacks {', '.join(missing)}")
            if "marts.pipeline_status" in tables:  # freshness: this publish is the last one
                con.execute(
                    "UPDATE marts.pipeline_status SET last_published_at = "
                    "CAST(CAST(? AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)",
                    [stamp.published_at],
                )
            con.execute("CREATE TABLE marts.publish_info (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.executemany(
                "INSERT INTO marts.publish_info VALUES (?, ?)",
                [
                    *stamp.rows(),
                    (DATA_VERSION_KEY, str(version)),
                    (DATA_DIR_KEY, f"{data_dir(warehouse)}/"),
                ],
            )
            con.execute("DETACH build")
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
            _fsync(staging / MANIFEST)
            for folder in sorted({p.parent for p in staging.rglob("*")}, reverse=True):
                _fsync_dir(folder)
            os.rename(staging, final)  # the version is complete; no published file reads it yet
            _fsync_dir(final.parent)
            for view in views:  # DuckDB binds a view when it is created: after the rename
                con.execute(view)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _fsync(tmp)
        os.replace(tmp, warehouse)  # the publish: readers opening the file now read v<version>
        swapped = True
        _fsync_dir(warehouse.parent)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        if not swapped:
            shutil.rmtree(final, ignore_errors=True)  # failed after the rename
    prune_versions(warehouse)
    return PublishResult(tables, warehouse.stat().st_size, version, written, linked)
