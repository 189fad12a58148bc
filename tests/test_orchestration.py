"""Production orchestration: sensor and schedule, blocking checks that gate the publish, faults.

Every run here is the real CLI (Dagster in-process, real dbt, real Great Expectations) on a
copy of a warehouse built once over the demo landing files minus the last day; the reference
for "the right numbers" is the warehouse built in one run over all demo days.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from conftest import (
    DAGSTER,
    Site,
    assert_same_numbers,
    clone_site,
    days_of,
    file_digest,
    query,
    sbm,
    table_rows,
)

from orchestration.assets.publish import published_warehouse as publish_asset
from orchestration.automation import daily_refresh, landing_sensor
from orchestration.definitions import build_definitions, defs
from orchestration.instance import instance_for, instance_yaml
from orchestration.keys import CLI_PROCESS_TAG, RANGE_END_TAG, RANGE_START_TAG
from orchestration.resources import PipelineResource
from orchestration.state import WarehousePaths, read_publish_stamp


def _last_error(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


# --- automation ---------------------------------------------------------------------------


def _write_day(landing: Path, day: str, name: str, lines: int, age_seconds: float) -> None:
    folder = landing / day
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(f'{{"n": {n}}}\n' for n in range(lines)))
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))


def test_sensor_requests_new_settled_days_once(tmp_path: Path):
    landing = tmp_path / "landing"
    _write_day(landing, "2026-11-20", "a.ndjson", 3, age_seconds=3600)
    _write_day(landing, "2026-11-21", "a.ndjson", 3, age_seconds=3600)
    _write_day(landing, "2026-11-22", "a.ndjson", 3, age_seconds=1)  # still landing
    _write_day(landing, "2019-12-31", "a.ndjson", 3, age_seconds=3600)  # before any partition
    pipeline = PipelineResource(landing_dir=str(landing), warehouse_path=str(tmp_path / "w.db"))

    first = landing_sensor.evaluate_tick(
        dg.build_sensor_context(cursor=None, resources={"pipeline": pipeline})
    )
    (request,) = first.run_requests
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "2026-11-20",
        "2026-11-21",
    )

    # the next tick, before the run ingested anything: nothing is requested twice
    second = landing_sensor.evaluate_tick(
        dg.build_sensor_context(cursor=first.cursor, resources={"pipeline": pipeline})
    )
    assert not second.run_requests
    assert "1 day(s) still landing" in second.skip_message

    # the day settles, and a file is added to an already requested day: both are new
    stamp = time.time() - 3600
    os.utime(landing / "2026-11-22" / "a.ndjson", (stamp, stamp))
    _write_day(landing, "2026-11-21", "b.ndjson", 2, age_seconds=600)
    third = landing_sensor.evaluate_tick(
        dg.build_sensor_context(cursor=second.cursor, resources={"pipeline": pipeline})
    )
    (request,) = third.run_requests
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (
        "2026-11-21",
        "2026-11-22",
    )
    assert set(json.loads(third.cursor)) == {"2026-11-20", "2026-11-21", "2026-11-22"}


def test_sensor_skips_days_already_in_the_raw_layer(base_site: Site):
    pipeline = PipelineResource(
        landing_dir=str(base_site.landing), warehouse_path=str(base_site.warehouse)
    )
    tick = landing_sensor.evaluate_tick(
        dg.build_sensor_context(cursor=None, resources={"pipeline": pipeline})
    )
    assert not tick.run_requests and tick.skip_message.startswith("nothing new to ingest")


def test_daily_schedule_requests_yesterdays_delivery_day():
    tick = daily_refresh.evaluate_tick(
        dg.build_schedule_context(
            scheduled_execution_time=dt.datetime(2026, 11, 21, 2, 30, tzinfo=dt.UTC),
            repository_def=defs.get_repository_def(),
        )
    )
    (request,) = tick.run_requests
    assert (request.partition_key, request.run_key) == ("2026-11-20", "2026-11-20")
    assert daily_refresh.cron_schedule == "30 2 * * *"


def test_instance_queues_runs_one_at_a_time_in_sqlite(tmp_path: Path):
    instance = instance_for(tmp_path / "dagster")
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    home = tmp_path / "dagster"
    assert (home / "dagster.yaml").read_text() == instance_yaml(home)
    assert type(instance.event_log_storage).__name__ == "PooledSqliteEventLogStorage"


# --- blocking checks ----------------------------------------------------------------------


def test_failing_quality_suite_blocks_the_publish_until_fixed(
    base_site: Site, demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    site = clone_site(base_site, tmp_path, demo_landing)
    last = days_of(site.landing)[-1]
    (site.landing / last / "garbage.ndjson").write_text("not json\n" * 5000)
    before = file_digest(site.warehouse)

    refused = site.run(check=False)
    assert refused.returncode == 1
    assert _last_error(refused).startswith(
        "servisbot-metrics: error: refresh_job failed"
    ) and f"first {last}: 5,0" in _last_error(refused)
    assert "more than the maximum 5.0%" in _last_error(refused)
    assert file_digest(site.warehouse) == before
    # the console names each error without its stack trace, which the run's event log keeps
    assert "Stack Trace" not in refused.stderr and 'File "' not in refused.stderr
    assert "(its stack trace: this run's event log, in the Dagster UI)" in refused.stderr
    run_id = _last_error(refused).split("(run ", 1)[1].split(")", 1)[0]
    (failure,) = site.instance().all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    assert failure.dagster_event.step_failure_data.error.stack

    # the outcome is recorded in Dagster with its metadata, and in the Data Docs
    check = dg.AssetCheckKey(dg.AssetKey(["raw", "events"]), "delivery_days_pass_quality_suite")
    record = site.instance().event_log_storage.get_latest_asset_check_execution_by_key([check])
    evaluation = record[check].event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.metadata["failing_days"].value == [last]
    docs = Path(evaluation.metadata["data_docs"].value)
    assert docs == site.state / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert docs.is_file()

    # nothing new, but the failing day still blocks: the gate is not forgotten
    again = site.run(check=False)
    assert again.returncode == 1 and "build_job failed" in _last_error(again)
    assert file_digest(site.warehouse) == before

    # an operator accepts the day with a higher maximum: published, numbers as expected
    site.run("--max-reject-ratio", "0.9")
    assert file_digest(site.warehouse) != before
    expected = table_rows(published_warehouse, "marts.usage_daily")
    assert table_rows(site.warehouse, "marts.usage_daily") == expected
    (published_at,) = query(
        site.warehouse, "SELECT DISTINCT last_published_at FROM marts.pipeline_status"
    )[0]
    stamp = dict(query(site.warehouse, "SELECT key, value FROM marts.publish_info"))
    assert published_at == dt.datetime.fromisoformat(stamp["published_at"]).replace(tzinfo=None)


def test_failing_dbt_test_blocks_the_publish(
    base_site: Site, demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    site = clone_site(base_site, tmp_path, demo_landing)
    before = file_digest(site.warehouse)
    # corrupt state: staging holds a duplicate event among the rows the run checks (an
    # incremental build tests the rows it rewrites: both copies look ingested after the last
    # build, as if staging's de-duplication had failed on them)
    with duckdb.connect(str(site.state / "build.duckdb")) as con:
        con.execute(
            "CREATE TEMP TABLE copy AS SELECT * REPLACE ("
            "(SELECT max(last_ingested_at) FROM staging.stg_messenger__events) + INTERVAL 1 SECOND"
            " AS last_ingested_at) FROM staging.stg_messenger__events ORDER BY event_id LIMIT 1"
        )
        con.execute(
            "DELETE FROM staging.stg_messenger__events WHERE event_id = (SELECT event_id FROM copy)"
        )
        con.execute(
            "INSERT INTO staging.stg_messenger__events SELECT * FROM copy UNION ALL "
            "SELECT * FROM copy"
        )

    refused = site.run(check=False)
    assert refused.returncode == 1
    assert _last_error(refused).startswith("servisbot-metrics: error: refresh_job failed") and (
        "check unique_stg_messenger__events_event_id on staging/stg_messenger__events failed: "
        "dbt test, 1 failing row(s)" in _last_error(refused)
    )
    # quiet logs, failure included: the configuration passed to dbt as --vars is not repeated
    log = (refused.stdout + refused.stderr).splitlines()
    assert any("--vars <" in line for line in log)
    assert max(map(len, log)) < 2000, max(log, key=len)[:300]
    assert file_digest(site.warehouse) == before

    site.run("--full-refresh")  # the way out: rebuild from the raw layer
    assert_same_numbers(site.warehouse, published_warehouse)


def _publish_alone(site: Site) -> dg.ExecuteInProcessResult:
    """Materialize only the published warehouse, as *Materialize* on that one asset would."""
    pipeline = PipelineResource(landing_dir=str(site.landing), warehouse_path=str(site.warehouse))
    return dg.materialize(
        [publish_asset],
        resources={"pipeline": pipeline},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _publish_error(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error.cause.message


def test_publish_alone_refuses_a_build_that_is_unfinished_or_untested(
    base_site: Site, demo_landing: Path, tmp_path: Path
):
    site = clone_site(base_site, tmp_path, demo_landing, with_last_day=False)
    before = file_digest(site.warehouse)
    record = site.state / "build.json"
    finished = json.loads(record.read_text())

    assert _publish_alone(site).success  # the build its checks passed: published again

    record.write_text(json.dumps({**finished, "in_progress": True}))  # a run's dbt was killed
    refused = _publish_alone(site)
    assert "not published: the build database holds an unfinished or failed build" in (
        _publish_error(refused)
    )

    # a hand-picked Materialize of models without their dbt tests
    untested = ["marts/usage_daily:within_range_usage_daily_engagement_rate__1__0"]
    record.write_text(json.dumps({**finished, "untested": untested}))
    refused = _publish_alone(site)
    assert "not published: the build ran without 1 dbt test(s) of the models it built" in (
        _publish_error(refused)
    )
    assert table_rows(site.warehouse, "marts.usage_daily") == table_rows(
        base_site.warehouse, "marts.usage_daily"
    )
    assert file_digest(site.warehouse) != before  # only the first (allowed) publish swapped it


def build_job_from_env() -> dg.JobDefinition:
    """build_job as Dagster runs it from the UI: the pipeline configured by SBM_* variables."""
    return build_definitions(PipelineResource.from_env()).resolve_job_def("build_job")


def test_a_failed_publish_re_executed_from_failure_publishes_its_parents_build(
    base_site: Site, demo_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    site = clone_site(base_site, tmp_path, demo_landing, with_last_day=False)
    for name, value in site.dagster_env().items():
        monkeypatch.setenv(name, value)
    site.warehouse.unlink()
    site.warehouse.mkdir()  # the publish cannot rename its copy onto a folder
    instance, job = site.instance(), dg.reconstructable(build_job_from_env)

    failed = dg.execute_job(job, instance=instance, raise_on_error=False)
    assert not failed.success
    assert [e.step_key for e in failed.all_events if e.is_step_failure] == ["warehouse__published"]

    site.warehouse.rmdir()
    again = dg.execute_job(
        job,
        instance=instance,
        raise_on_error=False,
        reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, instance),
    )
    assert again.success
    assert [e.asset_key for e in again.all_events if e.is_step_materialization] == [
        publish_asset.key
    ]  # only the publish ran, and it published the build its parent run made and checked
    stamp = read_publish_stamp(WarehousePaths.for_warehouse(site.warehouse))
    assert (stamp.build_id, stamp.dagster_run_id) == (failed.run_id, again.run_id)
    assert_same_numbers(site.warehouse, base_site.warehouse)
    assert not list(site.warehouse.parent.glob(".wh.duckdb.*"))  # the failed copy is gone


# --- faults -------------------------------------------------------------------------------


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _build_in_progress(state: Path) -> bool:
    record = state / "build.json"
    try:
        return json.loads(record.read_text()).get("in_progress", False)
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def test_kill_9_during_dbt_keeps_the_published_file_and_the_next_run_converges(
    base_site: Site, demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    site = clone_site(base_site, tmp_path, demo_landing)
    before = file_digest(site.warehouse)
    proc = site.start(new_session=True)  # its own process group: dbt is a child of the CLI
    try:
        _wait_for(lambda: _build_in_progress(site.state), 300, "dbt build to start")
        time.sleep(3)  # well into the build: staging written, later models not yet
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert file_digest(site.warehouse) == before
    assert query(site.warehouse, "SELECT count(*) FROM marts.usage_daily")[0][0] > 0

    rerun = site.run()
    assert "the previous build did not finish" in rerun.stderr
    assert_same_numbers(site.warehouse, published_warehouse)
    # the killed run is marked failed in the run history, not left "started" forever
    runs = site.instance().get_runs()
    assert not [r for r in runs if r.status == dg.DagsterRunStatus.STARTED]
    killed = [
        r.status
        for r in runs
        if r.tags.get(CLI_PROCESS_TAG, "").startswith(f"{socket.gethostname()}:{proc.pid}:")
    ]
    assert killed == [dg.DagsterRunStatus.FAILURE]


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended
            continue
    return found


def _dbt_child(pid: int) -> int | None:
    """The `dbt build` process `pid` started (in the suite, the launcher of a dbt fork, which
    passes signals on to it and ends when it ends: tests/dbt_forkserver.py)."""
    for child in _children(pid):
        try:
            if b"build" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
                return child
        except FileNotFoundError:
            continue
    return None


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_kill_9_of_the_run_alone_ends_its_dbt(base_site: Site, demo_landing: Path, tmp_path: Path):
    """`kill -9` of the run's process only, not of its process group (how the OOM killer or a
    killed run worker ends it): its dbt ends too (dbt_code.ended_with_parent). Before, the
    orphaned dbt finished its build holding build.duckdb's write lock, and the next run's dbt
    failed on that lock."""
    site = clone_site(base_site, tmp_path, demo_landing)
    published_before = file_digest(site.warehouse)
    paths = WarehousePaths.for_warehouse(site.warehouse, site.state)
    run_results = paths.dbt_target / "run_results.json"
    finished_before = run_results.stat().st_mtime_ns
    proc = site.start(new_session=True)
    try:
        _wait_for(lambda: _dbt_child(proc.pid) is not None, 300, "dbt build to start")
        dbt = _dbt_child(proc.pid)
        time.sleep(1)  # dbt under way: a build of the test's site takes several seconds
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _wait_for(lambda: not _running(dbt), 30, "dbt to end with the run that started it")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    # dbt did not go on to finish the build (it would have written its run results) ...
    assert run_results.stat().st_mtime_ns == finished_before
    # ... nor holds the build database: the next run's dbt opens it (the run after an
    # unfinished build converges: the test above)
    duckdb.connect(str(paths.build_db)).close()
    assert file_digest(site.warehouse) == published_before


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
query = "SELECT count(*), sum(impressions) FROM marts.usage_daily"
print(*con.execute(query).fetchone(), flush=True)
sys.stdin.readline()  # hold the file open until told
print(*con.execute(query).fetchone(), flush=True)
"""


def test_run_succeeds_while_a_reader_holds_the_published_file(
    base_site: Site, demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    site = clone_site(base_site, tmp_path, demo_landing)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(site.warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        old_view = reader.stdout.readline().split()
        site.run()
        reader.stdin.write("\n")
        reader.stdin.flush()
        still_old = reader.stdout.readline().split()
    finally:
        reader.kill()
        reader.wait()
    assert still_old == old_view  # the open connection keeps a consistent (old) view
    new_view = query(site.warehouse, "SELECT count(*), sum(impressions) FROM marts.usage_daily")
    assert [str(v) for v in new_view[0]] != old_view
    assert_same_numbers(site.warehouse, published_warehouse)


def test_two_runs_launched_together_both_succeed_with_the_right_numbers(
    base_site: Site, demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    site = clone_site(base_site, tmp_path, demo_landing)
    procs = [site.start() for _ in range(2)]
    results = [p.wait(timeout=900) for p in procs]
    outputs = [r.stderr for r in results]
    assert [r.returncode for r in results] == [0, 0], "\n=====\n".join(outputs)
    # CLI commands on one warehouse go one after another
    waited = "another servisbot-metrics command is using this warehouse; waiting for it"
    assert sum(waited in o for o in outputs) == 1, outputs
    assert_same_numbers(site.warehouse, published_warehouse)
    assert not list(site.warehouse.parent.glob(".wh.duckdb.*"))  # no copy left behind


def test_a_dagster_run_and_a_cli_run_interleaving_both_succeed(
    base_site: Site, demo_landing: Path, published_warehouse: Path, tmp_path: Path
):
    """A run launched by Dagster (UI, sensor, schedule) and a CLI run share only the per-step
    writer lock, so their steps interleave: the CLI run's ingest (and, if it wins the lock
    again, its dbt build) lands between the Dagster run's dbt build and its publish. The
    Dagster run then leaves publishing to the CLI run, which builds and publishes the new day."""
    site = clone_site(base_site, tmp_path, demo_landing)
    site.instance()  # dagster.yaml for the launched process
    launched = subprocess.Popen(
        [DAGSTER, "job", "execute", "-m", "orchestration.definitions", "-j", "build_job"],
        env={**os.environ, **site.dagster_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, to pause
    )
    waiting = "another run is writing this warehouse's state; waiting for it"
    try:
        _wait_for(lambda: _build_in_progress(site.state), 300, "the Dagster run's dbt build")
        # The Dagster run holds the writer lock for its build: paused until the CLI run waits
        # for that lock, the interleaving does not depend on how fast the CLI run starts.
        os.killpg(launched.pid, signal.SIGSTOP)
        try:
            started = site.start()
            _wait_for(
                lambda: waiting in started.output() or started.returncode is not None,
                300,
                "the CLI run to wait for the lock",
            )
        finally:
            os.killpg(launched.pid, signal.SIGCONT)
        cli = started.wait(timeout=900)
        output = launched.communicate(timeout=900)[0]
    finally:
        launched.kill()
    assert cli.returncode == 0, cli.stderr
    assert launched.returncode == 0, output[-3000:]
    assert waiting in cli.stdout + cli.stderr
    # the Dagster run's publish step gave way (its log, in the run's event log): to the CLI
    # run's newer build, or to the day the CLI run ingested after the Dagster run's build
    (run,) = site.instance().get_runs(dg.RunsFilter(job_name="build_job"))
    messages = [record.message for record in site.instance().all_logs(run.run_id)]
    assert any(
        m.startswith(("not publishing: run", "not publishing: delivery day")) for m in messages
    ), messages[-20:]
    assert_same_numbers(site.warehouse, published_warehouse)
    stamp = read_publish_stamp(WarehousePaths.for_warehouse(site.warehouse))
    assert stamp.build_id == json.loads((site.state / "build.json").read_text())["build_id"]


def test_backfilling_a_day_again_changes_nothing(
    base_site: Site, demo_landing: Path, tmp_path: Path
):
    site = clone_site(base_site, tmp_path, demo_landing, with_last_day=False)
    day = days_of(site.landing)[-2]
    manifest = site.state / "raw" / "manifest" / f"{day}.json"
    ingested_before = json.loads(manifest.read_text())["ingested_at"]
    time.sleep(1)  # ingest times have second resolution

    done = sbm(
        "backfill",
        "--landing",
        site.landing,
        "--warehouse",
        site.warehouse,
        "--from",
        day,
        "--to",
        day,
    )
    assert f"re-ingesting 1 delivery day(s) {day} .. {day}" in done.stderr
    assert json.loads(manifest.read_text())["ingested_at"] != ingested_before  # read again
    assert_same_numbers(site.warehouse, base_site.warehouse)


def test_backfill_rejects_a_range_outside_the_landing_folder(base_site: Site, tmp_path: Path):
    result = sbm(
        "backfill",
        "--landing",
        base_site.landing,
        "--warehouse",
        tmp_path / "w.duckdb",
        "--from",
        "2021-01-01",
        "--to",
        "2021-01-31",
        check=False,
    )
    assert result.returncode == 1
    assert _last_error(result).startswith("servisbot-metrics: error: no delivery-day folders")
    usage = sbm(
        "backfill",
        "--landing",
        base_site.landing,
        "--warehouse",
        tmp_path / "w.duckdb",
        "--from",
        "yesterday",
        "--to",
        "2021-01-31",
        check=False,
    )
    assert usage.returncode == 2 and "not a date (YYYY-MM-DD): yesterday" in usage.stderr
    reversed_range = sbm(
        "backfill", "--landing", base_site.landing, "--warehouse", tmp_path / "w.duckdb",
        "--from", "2021-01-31", "--to", "2021-01-01", check=False,
    )  # fmt: skip
    assert reversed_range.returncode == 2
    assert "backfill range is empty: --from 2021-01-31 is after --to 2021-01-01" in (
        reversed_range.stderr
    )
