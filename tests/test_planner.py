"""The planner's decisions, over typed state: no file, no database, no Dagster (milliseconds).

The same decisions are exercised end to end by the run, sensor and fault tests; these pin each
rule on its own, including the cases those tests reach only by accident of timing.
"""

from __future__ import annotations

from orchestration import planner
from orchestration.planner import DayGate
from orchestration.state import BuildRecord, DayQuality, PublishStamp

DEFINITION = planner.definition_hash("config-a", "code-a")
BUILT = BuildRecord(
    definition_hash=DEFINITION,
    code_hash="code-a",
    config_vars={"session_inactivity_minutes": 10, "unique_window_hours": 24},
    raw_digest="raw-1",
    build_id="run-1",
)


def _never() -> planner.CopyConflicts:
    raise AssertionError("the conflicting copies were counted although the answer was known")


def _manifest() -> dict:
    """Three models: sessions read the session var, the mart reads sessions, settings read all."""

    def model(sql: str) -> dict:
        return {"resource_type": "model", "raw_code": sql, "depends_on": {"macros": []}}

    return {
        "nodes": {
            "model.p.int_sessions": model("{{ var('session_inactivity_minutes') }}"),
            "model.p.usage_daily": model("select * from {{ ref('int_sessions') }}"),
            "model.p.config_versions": model("{{ rows_from_var('config_versions', {}) }}"),
            "model.p.int_impressions": model("{{ var('unique_window_hours') }}"),
            "test.p.unique_x": {"resource_type": "test", "raw_code": "", "depends_on": {}},
        },
        "macros": {},
        "child_map": {"model.p.int_sessions": ["model.p.usage_daily"]},
    }


def test_definition_changes_with_either_input():
    assert planner.definition_hash("config-a", "code-a") == DEFINITION
    assert planner.definition_hash("config-b", "code-a") != DEFINITION
    assert planner.definition_hash("config-a", "code-b") != DEFINITION


def test_full_refresh_reasons_in_order():
    assert planner.full_refresh_reason(BUILT, DEFINITION, True, _never) == "asked for"
    assert planner.full_refresh_reason(None, DEFINITION, False, _never) == "no previous build"
    assert (
        planner.full_refresh_reason(BUILT, "other", False, _never)
        == "the configuration or the dbt code changed"
    )
    started = BuildRecord(**{**BUILT.__dict__, "in_progress": True})
    assert (
        planner.full_refresh_reason(started, DEFINITION, False, _never)
        == "the previous build did not finish"
    )
    conflicts = planner.CopyConflicts
    assert planner.full_refresh_reason(BUILT, DEFINITION, False, lambda: conflicts(3, 0)) == (
        "3 redelivered event(s) changed conversation, visitor, type or time"
    )
    assert planner.full_refresh_reason(BUILT, DEFINITION, False, lambda: conflicts(0, 2)) == (
        "2 stored event(s) changed or removed by a delivery day read again"
    )
    assert planner.full_refresh_reason(BUILT, DEFINITION, False, lambda: conflicts(1, 1)) == (
        "1 redelivered event(s) changed conversation, visitor, type or time; "
        "1 stored event(s) changed or removed by a delivery day read again"
    )
    assert planner.full_refresh_reason(BUILT, DEFINITION, False, lambda: conflicts(0, 0)) is None


def test_a_configuration_change_rebuilds_what_reads_it_and_downstream():
    new_vars = {**BUILT.config_vars, "session_inactivity_minutes": 15}
    changed = planner.config_change_models(
        BUILT, planner.definition_hash("config-b", "code-a"), "code-a", new_vars, _manifest()
    )
    assert changed == {"model.p.int_sessions", "model.p.usage_daily", "model.p.config_versions"}


def test_nothing_or_everything_is_rebuilt():
    models = {
        "model.p.int_sessions",
        "model.p.usage_daily",
        "model.p.config_versions",
        "model.p.int_impressions",
    }
    same = planner.config_change_models(BUILT, DEFINITION, "code-a", {}, _manifest())
    assert same == frozenset()
    other = planner.definition_hash("config-a", "code-b")
    assert planner.config_change_models(BUILT, other, "code-b", {}, _manifest()) == models
    assert planner.config_change_models(None, other, "code-a", {}, _manifest()) == models
    unfinished = BuildRecord(**{**BUILT.__dict__, "in_progress": True})
    assert planner.config_change_models(unfinished, DEFINITION, "code-a", {}, _manifest()) == (
        models
    )
    unrecorded = BuildRecord(**{**BUILT.__dict__, "config_vars": None})
    assert planner.config_change_models(unrecorded, "other", "code-a", {}, _manifest()) == models


def test_a_partial_build_must_cover_the_change():
    assert planner.partial_build_refusal({"a", "b"}, {"a", "b", "c"}) is None
    refusal = planner.partial_build_refusal({"a", "b"}, {"a"})
    assert refusal and "1 asset(s)" in refusal and ": b." in refusal


def _day(day: str, passed: bool = True, ingest: str = "i1", version: str = "v1") -> DayGate:
    failures = [] if passed else ["too many rejected lines"]
    return DayGate(day, "i1", DayQuality(day, passed, 0.0, failures, ingest, version))


def test_publish_needs_every_day_validated_and_passed_and_a_finished_build():
    assert planner.publish_refusals(BUILT, [_day("2026-11-01")], "v1") == []
    reasons = planner.publish_refusals(
        BUILT,
        [
            _day("2026-11-01", ingest="i0"),  # validated before its last ingest
            _day("2026-11-02", version="v0"),  # validated under another suite
            _day("2026-11-03", passed=False),
            DayGate("2026-11-04", "i1", None),  # never validated
        ],
        "v1",
    )
    assert reasons == [
        "delivery day 2026-11-01 has not been validated since its last ingest",
        "delivery day 2026-11-02 has not been validated since its last ingest",
        "delivery day 2026-11-03 failed its data-quality suite: too many rejected lines",
        "delivery day 2026-11-04 has not been validated since its last ingest",
    ]
    started = BuildRecord(**{**BUILT.__dict__, "in_progress": True})
    for build in (None, started, BuildRecord()):
        (reason,) = planner.publish_refusals(build, [_day("2026-11-01")], "v1")
        assert "unfinished or failed build" in reason
    untested = BuildRecord(**{**BUILT.__dict__, "untested": ["marts/x:unique_x", "marts/x:y"]})
    (reason,) = planner.publish_refusals(untested, [_day("2026-11-01")], "v1")
    assert reason.startswith("the build ran without 2 dbt test(s) of the models it built")


def test_a_newer_build_by_another_run_supersedes_ours():
    assert planner.superseding_build(BUILT, "run-2", built_here=True) == "run-1"
    assert planner.superseding_build(BUILT, "run-1", built_here=True) is None  # our own build
    assert planner.superseding_build(BUILT, "run-2", built_here=False) is None  # publish alone
    started = BuildRecord(**{**BUILT.__dict__, "in_progress": True})
    assert planner.superseding_build(started, "run-2", built_here=True) is None
    assert planner.superseding_build(None, "run-2", built_here=True) is None


def test_a_publish_refused_only_by_an_ingest_after_its_build_is_left_to_that_run():
    own = BuildRecord(**{**BUILT.__dict__, "raw_digest_at_build": "raw-1"})
    passed = DayQuality("2026-11-01", True, 0.0, [], "ingest-1", "gate-1")
    validated = DayGate("2026-11-01", "ingest-1", passed)
    new_ingest = DayGate("2026-11-02", "ingest-2", None)  # another run ingested, not checked yet

    def left(build: BuildRecord, run: str, here: bool, raw: str, days: list[DayGate]) -> bool:
        return planner.ingested_since_own_build(build, run, here, raw, days, "gate-1")

    assert left(own, "run-1", True, "raw-2", [validated, new_ingest])
    assert not left(own, "run-1", True, "raw-1", [validated, new_ingest])  # no ingest since
    assert not left(own, "run-2", True, "raw-2", [validated, new_ingest])  # not our build
    assert not left(own, "run-1", False, "raw-2", [validated, new_ingest])  # publish alone
    assert not left(BUILT, "run-1", True, "raw-2", [validated, new_ingest])  # an older record
    failed = DayGate("2026-11-01", "ingest-1", DayQuality(**{**passed.__dict__, "passed": False}))
    assert not left(own, "run-1", True, "raw-2", [failed, new_ingest])  # a failing day fails
    started = BuildRecord(**{**own.__dict__, "in_progress": True})
    assert not left(started, "run-1", True, "raw-2", [validated, new_ingest])


def test_published_means_same_definition_raw_layer_and_gate():
    stamp = PublishStamp("t", "c", "1", DEFINITION, "raw-1", "run-1", "gate-1", "run-1")
    assert planner.is_published(stamp, DEFINITION, "raw-1", "gate-1")
    assert not planner.is_published(stamp, "other", "raw-1", "gate-1")
    assert not planner.is_published(stamp, DEFINITION, "raw-2", "gate-1")
    assert not planner.is_published(stamp, DEFINITION, "raw-1", "gate-2")
    assert not planner.is_published(None, DEFINITION, "raw-1", "gate-1")


def test_cli_plan():
    ingested = ["2026-11-01"]
    plan = planner.plan_cli_run(["2026-11-02", "2026-11-03"], 5, False, lambda: True, ingested)
    assert (plan.job, plan.days) == ("refresh_job", ("2026-11-02", "2026-11-03"))
    assert plan.message.startswith("ingesting 2 new or changed delivery day(s) of 5")
    assert planner.plan_cli_run([], 5, False, lambda: False, ingested).job == "build_job"
    assert planner.plan_cli_run([], 5, True, lambda: True, ingested).job == "build_job"
    assert planner.plan_cli_run([], 5, False, lambda: True, ingested).job is None


def test_nothing_ingested_means_nothing_to_build_even_when_asked():
    """No delivery day ingested yet (day folders without landing files, or a build_job launched
    while every file is still being written): a build would have no input."""
    for full_refresh in (False, True):
        plan = planner.plan_cli_run([], 5, full_refresh, lambda: False, [])
        assert (plan.job, plan.message) == (None, planner.NOTHING_INGESTED)
    first = planner.plan_cli_run(["2026-11-02"], 5, False, lambda: False, [])
    assert first.job == "refresh_job"
    assert planner.empty_build_refusal(["2026-11-02"]) is None


def test_a_cli_run_waits_until_the_files_still_being_written_have_settled_or_fails():
    now = 10_000.0
    assert planner.landing_wait(0.0, now, 0, 300) == 0  # nothing still being written
    assert planner.landing_wait(now + 7.5, now, 0, 300) == 7.5
    assert planner.landing_wait(now - 1, now, 0, 300) == 0.05  # changed again: list soon
    assert planner.landing_wait(now + 7.5, now, 295, 300) is None  # past the limit in all
    assert planner.landing_wait(now + 3600, now, 0, 300) is None  # would never make it
    assert planner.landing_wait(now + 1, now, 0, 0) is None  # a limit of 0 fails at once


class _Pending:
    def __init__(self, day: str, fingerprint: str, mtime_s: float) -> None:
        self.delivery_date, self.fingerprint = day, fingerprint
        self.newest_mtime_ns = int(mtime_s * 1e9)


def test_landing_requests_wait_for_settled_files_and_retry_after_an_hour():
    now = 10_000.0
    settled, settling = _Pending("2026-11-01", "f1", now - 120), _Pending("2026-11-02", "f2", now)
    first = planner.landing_requests([settled, settling], {}, now, 60, 3600)
    assert [p.delivery_date for p in first.due] == ["2026-11-01"]
    assert first.settling == {"2026-11-02"}
    assert first.cursor == {"2026-11-01": ["f1", now]}
    # requested a minute ago, same files: not again; an hour later (a failed run): again
    again = planner.landing_requests([settled], first.cursor, now + 60, 60, 3600)
    assert again.due == [] and again.cursor == first.cursor
    later = planner.landing_requests([settled], first.cursor, now + 3601, 60, 3600)
    assert [p.delivery_date for p in later.due] == ["2026-11-01"]
    # new files for the day: requested at once; an ingested day leaves the cursor
    changed = _Pending("2026-11-01", "f1b", now - 120)
    assert planner.landing_requests([changed], first.cursor, now + 60, 60, 3600).due == [changed]
    assert planner.landing_requests([], first.cursor, now + 60, 60, 3600).cursor == {}


def test_config_rebuild_skips():
    changed = frozenset({"model.p.int_sessions"})
    assert "no build yet" in planner.config_rebuild_skip(None, changed, "h", {}, 0, 3600)
    started = BuildRecord(**{**BUILT.__dict__, "in_progress": True})
    assert "did not finish" in planner.config_rebuild_skip(started, changed, "h", {}, 0, 3600)
    assert "built with the configuration" in planner.config_rebuild_skip(
        BUILT, frozenset(), "h", {}, 0, 3600
    )
    asked = {"hash": "h", "at": 100.0}
    assert "requested" in planner.config_rebuild_skip(BUILT, changed, "h", asked, 200, 3600)
    assert planner.config_rebuild_skip(BUILT, changed, "h", asked, 4000, 3600) is None
    assert planner.config_rebuild_skip(BUILT, changed, "h2", asked, 200, 3600) is None


def test_tests_a_build_skipped_stay_untested_until_run():
    before = BuildRecord(**{**BUILT.__dict__, "untested": ["a:unique_a"]})
    # a whole build with every test: nothing left untested, whatever was before
    assert (
        planner.untested_after_build(
            before, False, {"a:unique_a", "b:unique_b"}, {"a:unique_a", "b:unique_b"}
        )
        == []
    )
    # a build of model b without its tests: b's tests are untested, and a's still are
    assert planner.untested_after_build(before, True, {"b:unique_b"}, set()) == [
        "a:unique_a",
        "b:unique_b",
    ]
    # a build of model a with its tests clears them
    assert planner.untested_after_build(before, True, {"a:unique_a"}, {"a:unique_a"}) == []


def test_a_build_is_valid_only_for_its_engine():
    # the default engine keeps the hash it had before there were two
    assert planner.definition_hash("config-a", "code-a", "duckdb") == DEFINITION
    assert planner.definition_hash("config-a", "code-a", "spark") != DEFINITION


def test_an_engine_without_incremental_builds_always_rebuilds_whole():
    assert (
        planner.full_refresh_reason(BUILT, DEFINITION, False, _never, engine_rebuilds_whole=True)
        == "the engine rebuilds every model"
    )
    assert planner.full_refresh_reason(BUILT, DEFINITION, True, _never, True) == "asked for"
