"""The Dagster code location: real materializations of ingest, dbt and publish."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import duckdb

from orchestration import dbt_code, planner
from orchestration.assets.dbt import dbt_models
from orchestration.assets.ingest import RAW_EVENTS, raw_layer, raw_quality
from orchestration.assets.publish import PUBLISHED_WAREHOUSE, published_warehouse
from orchestration.definitions import defs
from orchestration.resources import PipelineResource

DAY = "2026-11-20"


def _event(event_id: str, event_type: str, at: str, **extra: object) -> str:
    event = {
        "event_id": event_id,
        "event_type": event_type,
        "occurred_at": f"{DAY}T{at}Z",
        "received_at": f"{DAY}T{at}Z",
        "organization": "acme",
        "bot": "ClassicFlow",
        "visitor_id": "v1",
        "conversation_id": "c1",
        **extra,
    }
    return json.dumps(event)


def _landing(root: Path) -> Path:
    landing = root / "landing"
    (landing / DAY).mkdir(parents=True)
    (landing / DAY / "batch.ndjson").write_text(
        "\n".join(
            [
                _event("i1", "impression", "09:00:00"),
                _event("s1", "conversation_start", "09:00:05"),
                _event("u1", "user_message", "09:01:00"),
                _event("b1", "bot_message", "09:05:00"),
                _event("u2", "user_message", "09:11:00"),  # exactly 10:00 after u1: a new session
                _event("u2", "user_message", "09:11:00"),  # redelivered
                "not json",
            ]
        )
        + "\n"
    )
    return landing


def test_code_location_loads_with_lineage():
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    assert graph.get(dg.AssetKey(["staging", "stg_messenger__events"])).parent_keys == {RAW_EVENTS}
    assert dg.AssetKey(["marts", "usage_daily"]) in graph.get(PUBLISHED_WAREHOUSE).parent_keys
    assert {"refresh_job", "build_job", "apply_config_job"} <= {
        job.name for job in repo.get_all_jobs()
    }
    checks = {key.name for key in graph.asset_check_keys}
    assert "unique_fct_sessions_session_id" in checks  # dbt tests surface as asset checks
    assert "delivery_days_pass_quality_suite" in checks  # the raw-day suite (Great Expectations)
    # the marts' invariants are dbt tests (one place per rule): ratios, the KPI balance, calendar
    assert {
        "within_range_usage_daily_engagement_rate__1__0",
        "kpi_daily_starts_equal_successes_failures_abandons",
        "has_every_day_usage_daily_metric_date",
    } <= checks
    # the sensors and the publish gate name dbt tests as dagster-dbt does
    assert dbt_code.dbt_test_check_keys(set(dbt_models.keys)) == set(dbt_models.check_keys)
    assert dbt_code.model_asset_keys() == set(dbt_models.keys)
    assert {s.name for s in repo.sensor_defs} == {"landing_sensor", "config_sensor"}
    assert {s.name for s in repo.schedule_defs} == {"daily_refresh"}


def test_a_build_before_anything_is_ingested_fails_with_the_reason(tmp_path: Path):
    """build_job (or Materialize all) on a new warehouse whose landing files have not been
    ingested: dbt would fail on missing raw files; the dbt step says why instead, and nothing
    is built, recorded or published."""
    pipeline = PipelineResource(
        landing_dir=str(_landing(tmp_path)), warehouse_path=str(tmp_path / "warehouse.duckdb")
    )
    build = dg.materialize(
        [dbt_models, published_warehouse],
        resources={"pipeline": pipeline, "dbt": defs.resources["dbt"]},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not build.success
    (failure,) = [e for e in build.all_events if e.is_step_failure]
    assert failure.step_key == dbt_code.DBT_ASSETS_OP
    assert failure.step_failure_data.user_failure_data.description == planner.NOTHING_INGESTED
    paths = pipeline.paths
    assert not paths.warehouse.exists() and not paths.build_db.exists()
    assert not (paths.dbt_target / "run_results.json").exists()


def test_materialize_ingest_then_dbt_and_publish(tmp_path: Path):
    pipeline = PipelineResource(
        landing_dir=str(_landing(tmp_path)),
        warehouse_path=str(tmp_path / "warehouse.duckdb"),
        max_reject_ratio=0.2,  # 1 of 7 lines is rejected
        settle_seconds=0,  # the landing file was written just now
    )
    resources = {"pipeline": pipeline, "dbt": defs.resources["dbt"]}
    instance = dg.DagsterInstance.ephemeral()

    ingest = dg.materialize(
        [raw_layer, raw_quality], partition_key=DAY, resources=resources, instance=instance
    )
    assert ingest.success
    (quality,) = ingest.get_asset_check_evaluations()
    assert quality.passed and quality.metadata["days_validated_now"].value == 1
    metadata = ingest.asset_materializations_for_node("raw_layer")[0].metadata
    assert metadata["accepted"].value == 5 and metadata["rejected"].value == 1

    build = dg.materialize(
        [dbt_models, published_warehouse], resources=resources, instance=instance
    )
    assert build.success
    evaluations = build.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    assert {
        "within_range_usage_daily_engagement_rate__1__0",
        "has_every_day_usage_daily_metric_date",
    } <= {e.check_name for e in evaluations}

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    row = con.execute(
        "SELECT impressions, conversations_started, sessions, user_messages FROM marts.usage_daily"
    ).fetchall()
    stamp = dict(con.execute("SELECT key, value FROM marts.publish_info").fetchall())
    con.close()
    assert row == [(1, 1, 2, 2)]
    assert stamp["dagster_run_id"] == build.run_id

    # a hand-picked Materialize of a mart without its dbt tests is built, and not published
    untested = dg.materialize(
        [dbt_models, published_warehouse],
        selection=dg.AssetSelection.assets(dg.AssetKey(["marts", "usage_daily"])).without_checks()
        | dg.AssetSelection.assets(PUBLISHED_WAREHOUSE),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not untested.success
    (failure,) = [e for e in untested.all_events if e.is_step_failure]
    assert "the build ran without" in str(failure.step_failure_data.error.cause.message)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert dict(con.execute("SELECT key, value FROM marts.publish_info").fetchall()) == stamp
    con.close()

    # a day with no landing folder (the daily schedule's, say): nothing read, and the log says so
    next_day = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat()
    empty = dg.materialize(
        [raw_layer], partition_key=next_day, resources=resources, instance=instance
    )
    assert empty.success
    assert f"for 1 day(s) of the run ({next_day})" in " ".join(
        record.message for record in instance.all_logs(empty.run_id)
    )


def test_the_dbt_resource_skips_what_the_pipeline_does_not_use():
    """dbt_code.DbtCli overrides two private hooks of dagster-dbt's resource (issue 13): they must
    still be what dagster-dbt calls, and the version it reports must be the executable's."""
    import subprocess

    from dagster_dbt import DbtCliResource

    from orchestration.settings import DBT_EXECUTABLE

    resource = dbt_code.dbt_cli()
    for hook in ("_cli_version", "_initialize_dbt_core_adapter"):
        assert hook in vars(DbtCliResource), f"dagster-dbt no longer has {hook}"
        assert hook in vars(type(resource))
    assert resource._initialize_dbt_core_adapter(["build"]) is None
    shown = subprocess.run(
        [DBT_EXECUTABLE, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"installed: {resource._cli_version}" in shown
