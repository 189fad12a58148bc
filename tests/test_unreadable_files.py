"""Landing files that cannot be read never stop the other files or days (issue 16).

Each kind of bad file is put beside a good one in a real landing folder and ingested for real:
the good file's events reach the raw layer, the bad file is recorded with its reason, and the
day's quality gate counts it. End to end, the CLI publishes the other days, shows the file in
`audit.rejected_files` and `marts.pipeline_status`, and picks up a corrected copy next run.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import time
from pathlib import Path

import duckdb
import pytest
from conftest import file_digest, query, sbm

from ingest.landing import LandingFile, UnreadableFile, day_files
from ingest.raw_layer import ingest_day, read_manifest, scan_landing
from orchestration.planner import DAMAGED_DAY
from orchestration.quality.gate import gate_failures
from orchestration.state import WarehousePaths

DAY = "2026-11-20"
GOOD = [
    {
        "event_id": f"e{n}",
        "event_type": "impression",
        "occurred_at": f"2026-11-20T10:{n:02d}:00Z",
        "received_at": f"2026-11-20T10:{n:02d}:01Z",
        "organization": "acme",
        "bot": "helper",
        "visitor_id": f"v{n}",
    }
    for n in range(40)
]


def _ndjson(events: list[dict]) -> bytes:
    return "".join(json.dumps(e) + "\n" for e in events).encode()


def _corrupt_gzip(data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data))
    packed[len(packed) // 2] ^= 0xFF  # a flipped byte in the deflate stream
    return bytes(packed)


def _make(kind: str, path: Path) -> None:
    """Writes a bad landing entry of `kind` at `path`."""
    data = _ndjson(GOOD[:10])
    if kind == "truncated gzip":
        path.write_bytes(gzip.compress(data)[:-20])  # a transfer cut off
    elif kind == "corrupt gzip":
        path.write_bytes(_corrupt_gzip(data))
    elif kind == "gzip named .ndjson":
        path.write_bytes(gzip.compress(data))
    elif kind == "utf-16":
        path.write_bytes(data.decode().encode("utf-16"))
    elif kind == "binary":
        path.write_bytes(b"PK\x03\x04\x00\x00" + os.urandom(200))
    elif kind == "directory":
        path.mkdir()
    elif kind == "named pipe":
        os.mkfifo(path)
    elif kind == "broken link":
        path.symlink_to(path.with_name("gone.ndjson"))
    else:
        raise ValueError(kind)


BAD = {  # kind: (file name, reason prefix)
    "truncated gzip": ("cut.ndjson.gz", "truncated gzip: "),
    "corrupt gzip": ("flipped.jsonl.gz", "corrupt gzip: "),
    "gzip named .ndjson": ("packed.ndjson", "gzip-compressed data in a file whose name does not"),
    "utf-16": ("wide.ndjson", "UTF-16 text (byte-order mark)"),
    "binary": ("archive.ndjson", "binary data (NUL bytes in the first line)"),
    "directory": ("folder.ndjson", "not a regular file (a directory)"),
    "named pipe": ("pipe.ndjson", "not a regular file (a named pipe)"),
    "broken link": ("link.jsonl", "cannot be read: a broken symbolic link"),
}


def _raw_events(raw: Path) -> list[str]:
    rows = duckdb.sql(f"SELECT event_id FROM '{raw}/events/*/*.parquet' ORDER BY 1").fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("kind", BAD)
def test_a_bad_file_is_recorded_and_the_good_one_ingested(tmp_path: Path, kind: str):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    (landing / DAY).mkdir(parents=True)
    (landing / DAY / "good.ndjson").write_bytes(_ndjson(GOOD))
    name, reason = BAD[kind]
    _make(kind, landing / DAY / name)

    result = ingest_day(landing, DAY, raw, log=lambda _: None)

    assert (result.accepted, result.rejected, result.rejected_files) == (40, 0, 1)
    assert _raw_events(raw) == sorted(e["event_id"] for e in GOOD)
    manifest = json.loads((raw / "manifest" / f"{DAY}.json").read_text())
    (recorded,) = manifest["rejected_files"]
    assert recorded["file"] == f"{DAY}/{name}"
    assert recorded["reason"].startswith(reason), recorded["reason"]
    assert recorded["estimated_lines"] >= 1
    assert manifest["counts"]["lines_in_rejected_files"] == recorded["estimated_lines"]
    assert manifest["files"] == [f"{DAY}/good.ndjson"]


def test_the_estimate_follows_the_days_bytes_per_line(tmp_path: Path):
    """An unreadable file counts as the lines it would have brought: its size over the bytes
    per line of the day's readable files of the same compression."""
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    (landing / DAY).mkdir(parents=True)
    (landing / DAY / "good.ndjson.gz").write_bytes(gzip.compress(_ndjson(GOOD)))
    (landing / DAY / "cut.ndjson.gz").write_bytes(gzip.compress(_ndjson(GOOD))[:-8])
    ingest_day(landing, DAY, raw, log=lambda _: None)
    manifest = json.loads((raw / "manifest" / f"{DAY}.json").read_text())
    # 40 lines and a final empty one were read from the same number of compressed bytes
    assert 36 <= manifest["rejected_files"][0]["estimated_lines"] <= 41


def _listed(landing: Path) -> LandingFile:
    (file,) = day_files(landing, DAY).files
    return file


def test_a_file_that_vanishes_or_changes_while_being_read(tmp_path: Path):
    landing = tmp_path / "landing"
    (landing / DAY).mkdir(parents=True)
    path = landing / DAY / "a.ndjson"
    path.write_bytes(_ndjson(GOOD[:2]))
    listed = _listed(landing)
    path.unlink()  # gone between the listing and the read
    with pytest.raises(UnreadableFile, match="vanished while being read"):
        listed.read_lines()

    path.write_bytes(_ndjson(GOOD[:2]))
    listed = _listed(landing)
    with path.open("ab") as out:  # still being appended to after it was listed
        out.write(_ndjson(GOOD[2:3]))
    with pytest.raises(UnreadableFile, match="changed while being read"):
        listed.read_lines()


def test_a_file_still_being_written_is_left_for_the_next_run(tmp_path: Path):
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    (landing / DAY).mkdir(parents=True)
    old, new = landing / DAY / "old.ndjson", landing / DAY / "new.ndjson"
    old.write_bytes(_ndjson(GOOD[:5]))
    past = time.time() - 3600
    os.utime(old, (past, past))
    new.write_bytes(_ndjson(GOOD[5:10]))  # modified just now

    first = ingest_day(landing, DAY, raw, settle_seconds=30, log=lambda _: None)
    assert (first.accepted, first.still_landing, first.rejected_files) == (5, 1, 0)
    again = ingest_day(landing, DAY, raw, settle_seconds=30, log=lambda _: None)
    assert again.skipped  # nothing settled since

    os.utime(new, (past, past))  # the writer finished a while ago
    settled = ingest_day(landing, DAY, raw, settle_seconds=30, log=lambda _: None)
    assert (settled.skipped, settled.accepted, settled.still_landing) == (False, 10, 0)


def test_an_ingested_file_written_again_leaves_the_day_as_it_was_until_it_settles(
    tmp_path: Path,
):
    """A file the day was read from is rewritten in place (modified just now): read now, the
    day would lose that file's events. It is not pending, and an ingest keeps the day as it
    was; once the file has settled the day is read again, whole."""
    landing, raw = tmp_path / "landing", tmp_path / "raw"
    (landing / DAY).mkdir(parents=True)
    first_file, second_file = landing / DAY / "a.ndjson", landing / DAY / "b.ndjson"
    first_file.write_bytes(_ndjson(GOOD[:5]))
    second_file.write_bytes(_ndjson(GOOD[5:10]))
    past = time.time() - 3600
    for path in (first_file, second_file):
        os.utime(path, (past, past))
    assert ingest_day(landing, DAY, raw, settle_seconds=30, log=lambda _: None).accepted == 10

    os.utime(second_file)  # being written again
    assert scan_landing(landing, [DAY], raw, 30).pending == []
    logged: list[str] = []
    kept = ingest_day(landing, DAY, raw, settle_seconds=30, log=logged.append)
    assert (kept.skipped, kept.accepted) == (True, 10)
    assert any("being written again (2026-11-20/b.ndjson)" in line for line in logged)

    os.utime(second_file, (past + 60, past + 60))  # settled: a changed file, the day is new
    assert [p.delivery_date for p in scan_landing(landing, [DAY], raw, 30).pending] == [DAY]
    again = ingest_day(landing, DAY, raw, settle_seconds=30, log=lambda _: None)
    assert (again.skipped, again.accepted) == (False, 10)


def test_a_damaged_raw_day_is_read_again_or_blocks_the_publish(tmp_path: Path):
    """A day's Parquet deleted, or its manifest garbled, in the state folder: the day is read
    again from its landing folder; with the landing folder gone too, the publish gate refuses
    with the reason instead of publishing without the day."""
    paths = WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    landing, raw = tmp_path / "landing", paths.raw
    (landing / DAY).mkdir(parents=True)
    (landing / DAY / "a.ndjson").write_bytes(_ndjson(GOOD[:5]))
    ingest_day(landing, DAY, raw, log=lambda _: None)
    for damage in ("parquet", "manifest"):
        if damage == "parquet":
            (raw / "events" / DAY / "events.parquet").unlink()
        else:
            (raw / "manifest" / f"{DAY}.json").write_text("{bad")
        assert read_manifest(raw, DAY) is None
        assert [p.delivery_date for p in scan_landing(landing, [DAY], raw).pending] == [DAY]
        assert gate_failures(paths, 0.05) == [f"delivery day {DAY}: {DAMAGED_DAY}"]
        healed = ingest_day(landing, DAY, raw, log=lambda _: None)
        assert (healed.skipped, healed.accepted) == (False, 5)
        assert read_manifest(raw, DAY) is not None


# --- end to end through the CLI -----------------------------------------------------------


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("unreadable") / "landing"
    sbm("generate", "--out", landing, "--days", 3, "--events", 6000, "--seed", 5, "--gzip")
    return landing


def test_cli_publishes_around_a_truncated_file_and_reads_the_corrected_copy(
    landing: Path, tmp_path: Path
):
    days = sorted(p.name for p in landing.iterdir())
    victim = sorted((landing / days[1]).iterdir())[0]  # the quietest window: few lines
    whole, delivered = victim.read_bytes(), victim.stat()
    victim.write_bytes(whole[: len(whole) // 2])  # the transfer was cut off
    warehouse = tmp_path / "wh.duckdb"
    try:
        result = sbm("run", "--landing", landing, "--warehouse", warehouse)
        relative = f"{days[1]}/{victim.name}"
        assert f"{days[1]}: " in result.stderr and "1 unreadable file(s)" in result.stderr
        ((file, reason, size),) = query(
            warehouse, "SELECT source_file, reason, size_bytes FROM audit.rejected_files"
        )
        assert (file, size) == (relative, len(whole) // 2)
        assert reason.startswith("truncated gzip")
        status = dict(
            query(
                warehouse,
                "SELECT CAST(delivery_date AS VARCHAR), files_rejected FROM marts.pipeline_status",
            )
        )
        assert status == {days[0]: 0, days[1]: 1, days[2]: 0}
        events_before = query(warehouse, "SELECT count(*) FROM marts.fct_impressions")[0][0]
        published = file_digest(warehouse)

        victim.write_bytes(whole)  # the platform re-delivers the file whole
        again = sbm("run", "--landing", landing, "--warehouse", warehouse)
        assert "ingesting 1 new or changed delivery day(s)" in again.stderr
        assert file_digest(warehouse) != published
        assert query(warehouse, "SELECT count(*) FROM audit.rejected_files") == [(0,)]
        assert query(warehouse, "SELECT sum(files_rejected) FROM marts.pipeline_status") == [(0,)]
        events_after = query(warehouse, "SELECT count(*) FROM marts.fct_impressions")[0][0]
        assert events_after > events_before
    finally:  # as delivered, for the other tests of the module
        victim.write_bytes(whole)
        os.utime(victim, ns=(delivered.st_atime_ns, delivered.st_mtime_ns))


def test_cli_gate_counts_a_large_unreadable_file(landing: Path, tmp_path: Path):
    """A file holding most of a day is counted as its lines: the day fails the gate, the run
    exits 1 naming the file, and the published warehouse stays as it was."""
    warehouse = tmp_path / "wh.duckdb"
    sbm("run", "--landing", landing, "--warehouse", warehouse)
    published = file_digest(warehouse)
    extra = landing.parent / "extra"
    last = max(p.name for p in landing.iterdir())
    day = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()  # the next delivery
    try:
        (extra / day).mkdir(parents=True)
        good = extra / day / "small.ndjson"
        good.write_bytes(_ndjson(GOOD[:3]))
        (extra / day / "big.ndjson.gz").write_bytes(gzip.compress(_ndjson(GOOD * 5))[:-30])
        (landing / day).symlink_to(extra / day)
        failed = sbm("run", "--landing", landing, "--warehouse", warehouse, check=False)
        assert failed.returncode == 1
        last = failed.stderr.strip().splitlines()[-1]
        assert f"{day}: " in last and f"{day}/big.ndjson.gz: truncated gzip" in last, last
        assert file_digest(warehouse) == published
    finally:
        (landing / day).unlink(missing_ok=True)


def test_cli_waits_for_a_file_still_being_written_then_reads_it(landing: Path, tmp_path: Path):
    """`run` processes everything that landed: a file changed less than SBM_SETTLE_SECONDS
    ago is not read half-written, the run waits until it has settled, says so, and reads it."""
    warehouse = tmp_path / "wh.duckdb"
    day = sorted(p.name for p in landing.iterdir())[-1]
    fresh = landing / day / "arriving.ndjson"
    fresh.write_bytes(_ndjson(GOOD[:3]))
    # dated 5 s ahead: still being written when the run lists it, however slowly it starts
    ahead = time.time() + 5
    os.utime(fresh, (ahead, ahead))
    try:
        result = sbm(
            "run", "--landing", landing, "--warehouse", warehouse,
            env={"SBM_SETTLE_SECONDS": "3"},
        )  # fmt: skip
        (waited,) = [line for line in result.stderr.splitlines() if "still being written" in line]
        assert waited.startswith("waiting ")
        assert waited.endswith(
            f" s for 1 landing file(s) still being written (changed in the last 3 s): "
            f"{day}/arriving.ndjson"
        )
        assert query(warehouse, "SELECT count(*) FROM marts.fct_impressions WHERE "
                     "impression_id IN ('e0', 'e1', 'e2')") == [(3,)]  # fmt: skip
    finally:
        fresh.unlink()
