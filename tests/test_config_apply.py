"""Applying a configuration from Dagster: the launchpad job, the sensor, the partial rebuild.

Real runs on a real warehouse: the rebuild of exactly the affected assets must give the numbers
a full build with the new configuration gives."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import yaml

from orchestration.automation import config_sensor
from orchestration.definitions import build_definitions
from orchestration.resources import PipelineResource
from tests.conftest import Site, clone_site, published_tables, query, sbm, table_rows

APPLY_OP = "config__metrics_configuration"
# the history and the settings table name the versions, which differ by construction
CONFIG_TABLES = ("marts.config_versions", "marts.config_settings")
TIMEOUT_KEY = "policies.userSession.expireOnInactivityInMinutes"
PASSWORD_RESET = {
    "title": "Password reset",
    "summary": {
        "start": "pw_reset_start",
        "success": "pw_reset_done",
        "failure": "pw_reset_failed",
    },
}


def _pipeline(site: Site, config: Path | None = None) -> PipelineResource:
    return PipelineResource(
        landing_dir=str(site.landing),
        warehouse_path=str(site.warehouse),
        state_dir=str(site.state),
        config_path=str(config or ""),
    )


def _tick(pipeline: PipelineResource, cursor: str | None = None) -> dg.SensorResult:
    return config_sensor.evaluate_tick(
        dg.build_sensor_context(cursor=cursor, resources={"pipeline": pipeline})
    )


def _run_request(
    defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest
) -> dg.ExecuteInProcessResult:
    """Runs what the sensor requested, as the daemon would: its assets and its checks."""
    job = defs.resolve_job_def(request.job_name or "build_job").get_subset(
        asset_selection=set(request.asset_selection or ()),
        asset_check_selection=set(request.asset_check_keys or ()),
    )
    return job.execute_in_process(instance=instance, tags=request.tags)


def _keys(request: dg.RunRequest) -> set[str]:
    return {key.to_user_string() for key in request.asset_selection}


def test_applying_a_timeout_and_a_use_case_from_the_launchpad_equals_a_full_rebuild(
    base_site: Site, demo_landing: Path, tmp_path: Path
) -> None:
    site = clone_site(base_site, tmp_path / "applied", demo_landing, with_last_day=False)
    pipeline = _pipeline(site)
    defs, instance = build_definitions(pipeline), site.instance()
    assert _tick(pipeline).skip_message == "the marts are built with the configuration in effect"

    # a value out of its bounds is refused as the rest of the document is: with its key path
    too_short = {"policies": {"userSession": {"expireOnInactivityInMinutes": 0}}}
    refused = defs.resolve_job_def("apply_config_job").execute_in_process(
        run_config={"ops": {APPLY_OP: {"config": too_short}}},
        instance=instance,
        raise_on_error=False,
    )
    (failure,) = [e for e in refused.all_events if e.is_step_failure]
    assert failure.step_failure_data.user_failure_data.description == (
        "configuration not applied:\npolicies.userSession.expireOnInactivityInMinutes: "
        "must be a positive integer, got 0"
    )
    assert not (site.state / "metrics-config.yaml").exists()

    edit = {
        "policies": {"userSession": {"expireOnInactivityInMinutes": 3}},
        "kpiDashboards": [
            {
                "alias": "retail-kpis",
                "resourceName": "ClassicFlow",
                "useCases": [PASSWORD_RESET],
            }
        ],
    }
    applied = defs.resolve_job_def("apply_config_job").execute_in_process(
        run_config={"ops": {APPLY_OP: {"config": edit}}}, instance=instance
    )
    assert applied.success
    written = site.state / "metrics-config.yaml"
    assert yaml.safe_load(written.read_text())["policies"]["userSession"] == {
        "expireOnInactivityInMinutes": 3
    }

    (request,) = _tick(pipeline).run_requests
    selected = _keys(request)
    assert {
        "intermediate/int_sessions",
        "marts/fct_sessions",
        "marts/usage_daily",
        "intermediate/int_kpi_use_cases",
        "marts/kpi_daily",
        "marts/config_versions",
        "warehouse/published",
    } <= selected
    # what neither the timeout nor the use cases touch is not rebuilt
    assert not selected & {
        "staging/stg_messenger__events",
        "intermediate/int_impressions",
        "marts/fct_impressions",
        "marts/pipeline_status",
    }
    built = _run_request(defs, instance, request)
    assert built.success
    materialized = {
        e.asset_key.to_user_string() for e in built.all_events if e.is_step_materialization
    }
    assert materialized == selected
    assert _tick(pipeline).skip_message == "the marts are built with the configuration in effect"

    # the reference: a full build from scratch with the document the job wrote
    reference = Site(site.landing, tmp_path / "reference" / "wh.duckdb")
    sbm("run", "--landing", site.landing, "--warehouse", reference.warehouse, "--config", written)
    tables = published_tables(reference.warehouse)
    assert published_tables(site.warehouse) == tables
    for table in tables:
        if table not in CONFIG_TABLES:
            assert table_rows(site.warehouse, table) == table_rows(reference.warehouse, table), (
                table
            )
    sessions = "SELECT count(*) FROM marts.fct_sessions"
    assert query(site.warehouse, sessions) != query(base_site.warehouse, sessions)  # it changed
    assert query(site.warehouse, "SELECT count(*) FROM marts.kpi_daily")[0][0] > 0

    # the history: who applied what, and which version the published numbers are
    versions = query(
        site.warehouse,
        "SELECT version, source, run_id, diff, is_active FROM marts.config_versions ORDER BY 1",
    )
    assert [(v[0], v[4]) for v in versions] == [(1, False), (2, True)]
    assert versions[1][1] == f"apply_config_job ({written})" and versions[1][2] == applied.run_id
    assert versions[1][3].splitlines()[0] == f"~ {TIMEOUT_KEY}: 10 -> 3"
    assert versions[1][3].splitlines()[1].startswith('+ kpiDashboards[retail-kpis]: {"alias"')
    stamp = dict(query(site.warehouse, "SELECT key, value FROM marts.publish_info"))
    assert stamp["config_version"] == "2"
    shown = json.loads(sbm("config", "show", "--warehouse", site.warehouse, "--json").stdout)
    assert shown["policies"]["userSession"] == {"expireOnInactivityInMinutes": 3}

    # a change of a bucket metric rebuilds and tests only the bucket models, and is published
    bucket = {
        "title": "Failure reasons",
        "type": "bucket",
        "properties": {"goal": "pw_reset_failed"},
    }
    edit = {
        "kpiDashboards": [
            {"alias": "retail-kpis", "useCases": [{**PASSWORD_RESET, "metrics": [bucket]}]}
        ]
    }
    applied = defs.resolve_job_def("apply_config_job").execute_in_process(
        run_config={"ops": {APPLY_OP: {"config": edit}}}, instance=instance
    )
    (request,) = _tick(pipeline).run_requests
    assert _keys(request) == {
        "intermediate/int_kpi_bucket_metrics",
        "marts/dim_kpi_use_cases",
        "marts/kpi_bucket_daily",
        "marts/config_settings",
        "marts/config_versions",
        "warehouse/published",
    }
    checks = {(key.asset_key.to_user_string(), key.name) for key in request.asset_check_keys}
    # the dbt tests of the rebuilt models, and no others (the rest were tested when built)
    assert {asset for asset, _ in checks} == _keys(request) - {"warehouse/published"}
    assert _run_request(defs, instance, request).success
    stamp = dict(query(site.warehouse, "SELECT key, value FROM marts.publish_info"))
    assert stamp["config_version"] == "3"
    assert query(site.warehouse, "SELECT count(*) FROM marts.kpi_bucket_daily")[0][0] > 0


def test_an_edit_on_disk_is_picked_up_by_the_sensor_and_a_bad_one_reported(
    base_site: Site, demo_landing: Path, tmp_path: Path
) -> None:
    site = clone_site(base_site, tmp_path / "edited", demo_landing, with_last_day=False)
    config = tmp_path / "metrics.yaml"
    config.write_text("impressions: {uniqueWindowHours: 0}\n")
    pipeline = _pipeline(site, config)
    refused = _tick(pipeline)
    assert not refused.run_requests
    assert "impressions.uniqueWindowHours: must be a positive integer, got 0" in (
        refused.skip_message or ""
    )

    config.write_text("impressions: {uniqueWindowHours: 48}\n")
    first = _tick(pipeline)
    (request,) = first.run_requests
    assert {"intermediate/int_impressions", "marts/usage_daily"} <= _keys(request)
    assert "intermediate/int_sessions" not in _keys(request)
    assert not _tick(pipeline, first.cursor).run_requests  # requested once

    defs, instance = build_definitions(pipeline), site.instance()
    build_job = defs.resolve_job_def("build_job")
    # a partial build that leaves out assets depending on the change is refused
    partial = build_job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(["intermediate", "int_impressions"])],
        raise_on_error=False,
    )
    assert not partial.success
    failure = next(e for e in partial.all_events if e.is_step_failure)
    assert "the metrics configuration changed since the last build" in str(
        failure.step_failure_data.error
    )
    built = _run_request(defs, instance, request)
    assert built.success
    (source,) = query(site.warehouse, "SELECT source FROM marts.config_versions WHERE is_active")
    assert source == (str(config),)
    unique = "SELECT sum(unique_impressions) FROM marts.usage_daily"
    assert query(site.warehouse, unique)[0][0] < query(base_site.warehouse, unique)[0][0]
