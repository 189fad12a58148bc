"""The state module on real files: records round-trip, writes are atomic, the publish stamp is
read from the published DuckDB file itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration import state
from orchestration.state import BuildRecord, PublishStamp, WarehousePaths

STAMP = PublishStamp("2026-11-30T00:00:00+00:00", "c", "1", "d", "r", "b", "g", "p")


def _published(path: Path, with_stamp: bool = True) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA marts")
    if with_stamp:
        con.execute("CREATE TABLE marts.publish_info (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.executemany("INSERT INTO marts.publish_info VALUES (?, ?)", STAMP.rows())
    con.close()


def test_build_record_round_trip_and_unknown_keys(tmp_path: Path):
    paths = WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    assert state.read_build(paths) is None  # no build database
    paths.build_db.parent.mkdir(parents=True)
    paths.build_db.touch()
    record = BuildRecord("d", "c", {"x": 1}, "r", "run", untested=["a:t"])
    state.write_build(paths, record)
    assert state.read_build(paths) == record
    state.mark_build_started(paths)
    assert state.read_build(paths) == BuildRecord(**{**record.__dict__, "in_progress": True})
    # a record written by an older version (a key since removed, one not yet there) still reads
    paths.build_record.write_text('{"definition_hash": "d", "retired": 1}')
    assert state.read_build(paths) == BuildRecord(definition_hash="d")
    assert not list(paths.state.glob(".*tmp"))  # no temporary file left behind


def test_the_publish_stamp_is_read_from_the_published_file(tmp_path: Path):
    paths = WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    assert state.read_publish_stamp(paths) is None  # nothing published
    _published(paths.warehouse, with_stamp=False)
    assert state.read_publish_stamp(paths) is None  # not published by this tool
    paths.warehouse.unlink()
    _published(paths.warehouse)
    assert state.read_publish_stamp(paths) == STAMP


def test_a_warehouse_held_read_write_elsewhere_is_unreadable_not_unpublished(tmp_path: Path):
    paths = WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    _published(paths.warehouse)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.read()",
            str(paths.warehouse),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(state.StateUnreadable, match="cannot open the published warehouse"):
            state.read_publish_stamp(paths)
    finally:
        holder.communicate("")
    assert state.read_publish_stamp(paths) == STAMP


def test_a_damaged_configuration_history_names_its_file_and_line(tmp_path: Path):
    """A torn last line (a crash while appending) is a version never applied; a bad line before
    it is damage, reported with the file and the line instead of a bare JSON error."""
    paths = WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    paths.state.mkdir(parents=True)
    first = {"version": 1, "hash": "a"}
    paths.config_versions.write_text('{"version": 1, "hash": "a"}\n{"vers\n')
    assert state.read_config_versions(paths) == [first]
    paths.config_versions.write_text('{"version": 1, "hash": "a"}\nnot json\n{"version": 2}\n')
    with pytest.raises(state.StateUnreadable, match=r"config_versions.jsonl, line 2: not a JSON"):
        state.read_config_versions(paths)
