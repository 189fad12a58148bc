"""The Great Expectations suite on delivery days, on a real raw layer (Parquet) and a real GX
project: per-day measurements in DuckDB, one GX run, precise failures per day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb

from ingest.raw_layer import ingest_day
from orchestration.quality.gate import gate_failures
from orchestration.quality.raw_days import check_days
from orchestration.state import WarehousePaths

DAYS = ("2026-11-19", "2026-11-20")


def _event(day: str, n: int) -> str:
    at = f"{day}T10:{n:02d}:00Z"
    return json.dumps(
        {
            "event_id": f"{day}-{n}",
            "event_type": "impression",
            "occurred_at": at,
            "received_at": at,
            "organization": "acme",
            "bot": "ClassicFlow",
            "visitor_id": f"v-{n}",
        }
    )


def _tamper(parquet: Path, extra_rows_sql: str) -> None:
    """Rewrite a day's Parquet with extra rows, as a faulty writer or a hand edit would."""
    tampered = parquet.with_name("tampered.parquet")
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{parquet}') UNION ALL {extra_rows_sql}) "
            f"TO '{tampered}' (FORMAT parquet)"
        )
    tampered.replace(parquet)


def test_each_day_is_validated_once_and_a_bad_day_fails_with_its_reasons(tmp_path: Path):
    landing, paths = tmp_path / "landing", WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    for day in DAYS:
        (landing / day).mkdir(parents=True)
        (landing / day / "events.ndjson").write_text(
            "\n".join(_event(day, n) for n in range(20)) + "\n"
        )
        ingest_day(landing, day, paths.raw, log=lambda _: None)
    bad = paths.raw / "events" / DAYS[1] / "events.parquet"
    first = f"(SELECT * FROM read_parquet('{bad}') ORDER BY event_id LIMIT 1)"
    _tamper(
        bad,
        f"{first} UNION ALL "  # a duplicate event_id
        f"(SELECT * REPLACE (event_id || '-x' AS event_id, DATE '{DAYS[0]}' AS delivery_date, "
        f"occurred_at + INTERVAL 3 DAY AS occurred_at) FROM {first})",  # wrong day, clock ahead
    )

    logged: list[str] = []
    qualities, validated, docs = check_days(paths, 0.05, logged.append)

    assert validated == list(DAYS)
    good, failed = qualities
    assert good.passed and good.failures == []
    assert not failed.passed
    assert failed.failures == [
        "expect_column_values_to_be_between(duplicate_event_ids): 1",
        "expect_column_values_to_be_between(rows_outside_partition): 1",
        "expect_column_values_to_be_between(max_clock_lead_seconds): 259200",
    ]
    assert logged[1] == (
        f"{DAYS[1]}: data-quality suite FAILED: "
        "expect_column_values_to_be_between(duplicate_event_ids): 1"
    )
    assert docs is not None and docs.is_file()
    assert gate_failures(paths, 0.05) == [
        f"delivery day {DAYS[1]} failed its data-quality suite: "
        "expect_column_values_to_be_between(duplicate_event_ids): 1"
    ]

    # validated once per ingest: a second check reads the stored outcomes
    again, validated_again, _ = check_days(paths, 0.05, logged.append)
    assert validated_again == [] and again == qualities

    # re-delivered (one more event), the day is ingested and validated again, and passes
    with (landing / DAYS[1] / "events.ndjson").open("a") as delivery:
        delivery.write(_event(DAYS[1], 20) + "\n")
    ingest_day(landing, DAYS[1], paths.raw, log=lambda _: None)
    fixed, validated_now, _ = check_days(paths, 0.05, logged.append)
    assert validated_now == [DAYS[1]] and all(q.passed for q in fixed)
    assert gate_failures(paths, 0.05) == []


def test_lines_the_contract_accepts_never_fail_the_suite(tmp_path: Path):
    """A device clock ahead of the ingest (occurred_at 3 h after a received_at of just now:
    the contract allows 24 h) or reset to 1970 (epoch 0): accepted lines, a passing day."""
    landing, paths = tmp_path / "landing", WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    day = dt.date.today().isoformat()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    received = (now - dt.timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    ahead = (now + dt.timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    lines = [
        json.loads(_event(day, 1)) | {"occurred_at": ahead, "received_at": received},
        json.loads(_event(day, 2)) | {"occurred_at": 0, "received_at": received},
    ]
    (landing / day).mkdir(parents=True)
    (landing / day / "events.ndjson").write_text("".join(json.dumps(e) + "\n" for e in lines))
    result = ingest_day(landing, day, paths.raw, log=lambda _: None)
    assert (result.accepted, result.rejected) == (2, 0)

    (quality,), validated, _ = check_days(paths, 0.05, lambda _: None)
    assert validated == [day]
    assert quality.passed, quality.failures


def test_a_day_with_too_many_rejected_lines_fails_on_its_reject_ratio(tmp_path: Path):
    landing, paths = tmp_path / "landing", WarehousePaths.for_warehouse(tmp_path / "w.duckdb")
    day = DAYS[0]
    (landing / day).mkdir(parents=True)
    good = [_event(day, n) for n in range(18)]
    (landing / day / "events.ndjson").write_text("\n".join([*good, "not json", "{"]) + "\n")
    ingest_day(landing, day, paths.raw, log=lambda _: None)

    (quality,), _, _ = check_days(paths, 0.05, lambda _: None)
    assert not quality.passed and quality.reject_ratio == 0.1
    assert quality.failures == [
        "2 of 20 lines rejected (10.0%), more than the maximum 5.0% (re-deliver the day, or "
        "raise the maximum: --max-reject-ratio, SBM_MAX_REJECT_RATIO)"
    ]

    (accepted,), validated, _ = check_days(paths, 0.2, lambda _: None)  # a new suite version
    assert validated == [day] and accepted.passed
