"""Every decision a run makes, as pure functions over typed state.

Asset bodies, sensors and the CLI gather the facts (orchestration/state.py, the landing folder,
the dbt manifest) and ask here what to do: nothing in this module reads a file, runs a query
or calls Dagster, so each decision is unit-tested in milliseconds (tests/test_planner.py).

    definition_hash        what the marts are a function of besides the data
    full_refresh_reason    whether the next dbt build rebuilds everything, and why
    config_change_models   which dbt models a configuration change rebuilds
    partial_build_refusal  whether a build of some models would mix two configurations
    empty_build_refusal    whether there is anything to build: a delivery day ingested
    is_validated           whether a delivery day's stored quality outcome is current
    day_refusals           which ingested delivery days block the publish, and why
    publish_refusals       whether the build database may be published, and why not
    untested_after_build   which dbt tests the build database has not passed as it is
    superseding_build      whether another run's build replaced the one this run made
    is_published           whether the published warehouse is what a build would make now
    plan_cli_run           what `servisbot-metrics run` executes
    landing_requests       which delivery days the landing sensor asks a run for
    config_rebuild_skip    whether the configuration sensor asks for a rebuild
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestration.config_impact import affected_models, changed_vars
from orchestration.settings import ENGINES
from orchestration.state import BuildRecord, DayQuality, PublishStamp

if TYPE_CHECKING:
    from ingest.raw_layer import PendingDay

CONFIG_HISTORY_VAR = "config_versions"  # every build passes the history as this dbt var


def definition_hash(config_hash: str, code_hash: str, engine: str = ENGINES[0]) -> str:
    """The configuration's content hash with the dbt code's and the engine's: incremental models
    are valid only under the definition they were built with, and a build only by its engine
    (the default engine's hash leaves it out, as before there were two)."""
    engine_part = "" if engine == ENGINES[0] else f":{engine}"
    return hashlib.sha256(f"{config_hash}:{code_hash}{engine_part}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CopyConflicts:
    """Events the raw rows of the next build change in a way an incremental build cannot
    follow (conflicting_copies.py)."""

    moved: int  # a redelivered copy names another conversation, visitor, type, bot or time
    replaced: int  # a delivery day read again changed or removed the copy the build holds

    def reason(self) -> str | None:
        reasons = []
        if self.moved:
            reasons.append(
                f"{self.moved} redelivered event(s) changed conversation, visitor, type or time"
            )
        if self.replaced:
            reasons.append(
                f"{self.replaced} stored event(s) changed or removed by a delivery day read again"
            )
        return "; ".join(reasons) or None


def full_refresh_reason(
    build: BuildRecord | None,
    definition: str,
    asked: bool,
    conflicting_copies: Callable[[], CopyConflicts],
    engine_rebuilds_whole: bool = False,
) -> str | None:
    """Why the next dbt build must rebuild everything, or None when incremental is exact.
    `conflicting_copies` tells what the new raw rows do to the events the build holds (a query:
    asked only when nothing else decided). `engine_rebuilds_whole`: the engine has no
    incremental builds (engines.Engine)."""
    if asked:
        return "asked for"
    if engine_rebuilds_whole:
        return "the engine rebuilds every model"
    if build is None or not build.definition_hash:
        return "no previous build"
    if build.definition_hash != definition:
        return "the configuration or the dbt code changed"
    if build.in_progress:
        return "the previous build did not finish"
    return conflicting_copies().reason()


def config_change_models(
    build: BuildRecord | None,
    definition: str,
    code_hash: str,
    config_vars: Mapping[str, Any],
    manifest: Mapping[str, Any],
) -> frozenset[str]:
    """The dbt models (unique ids) to rebuild so that the marts follow `config_vars` and the
    dbt code `code_hash`: those reading a changed var (or the history) and everything
    downstream. Every model when there is no finished build, the dbt code changed or the build
    recorded no configuration; none when the build is of this definition."""
    everything = frozenset(
        uid for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"
    )
    if build is None or build.in_progress:
        return everything
    if build.definition_hash == definition:
        return frozenset()
    if build.config_vars is None or build.code_hash != code_hash:
        return everything
    changed = changed_vars(build.config_vars, dict(config_vars)) | {CONFIG_HISTORY_VAR}
    return frozenset(affected_models(dict(manifest), changed))


def partial_build_refusal(changed: Iterable[str], selected: Iterable[str]) -> str | None:
    """A build of some models after a configuration change must rebuild everything the change
    touches, or the marts would mix two configurations. `changed` and `selected` are names."""
    missing = sorted(set(changed) - set(selected))
    if not missing:
        return None
    return (
        f"the metrics configuration changed since the last build and {len(missing)} asset(s) "
        f"that depend on it are not selected: {', '.join(missing[:8])}"
        + (" ..." if len(missing) > 8 else "")
        + ". Run build_job, or let config_sensor request the rebuild."
    )


NOTHING_INGESTED = (
    "no delivery day has been ingested yet, so there is nothing to build: a day is ingested "
    "once its landing folder (YYYY-MM-DD) holds files unchanged for the settle time "
    "(SBM_SETTLE_SECONDS)"
)


def empty_build_refusal(ingested_days: Sequence[str]) -> str | None:
    """A build reads the raw layer's files: with no delivery day ingested it has no input."""
    return None if ingested_days else NOTHING_INGESTED


@dataclass(frozen=True)
class DayGate:
    """An ingested delivery day as the publish gate sees it."""

    delivery_date: str
    # which ingest of the day the raw layer holds (state.DayQuality.ingest); "": none whole
    ingest: str
    quality: DayQuality | None  # its stored data-quality outcome


DAMAGED_DAY = (
    "its files in the raw layer are damaged or missing: deliver its landing folder again, or "
    "delete the state folder's raw/ to read every delivery day again"
)


def is_validated(day: DayGate, suite_version: str) -> bool:
    """Whether the day's stored outcome is of its current ingest under the current suite."""
    quality = day.quality
    return bool(quality and quality.ingest == day.ingest and quality.suite_version == suite_version)


def day_refusals(days: Sequence[DayGate], suite_version: str) -> list[str]:
    """Why the raw layer may not be published: days not validated as they are now, or failing."""
    reasons = []
    for day in days:
        if not day.ingest:
            reasons.append(f"delivery day {day.delivery_date}: {DAMAGED_DAY}")
        elif not is_validated(day, suite_version):
            reasons.append(
                f"delivery day {day.delivery_date} has not been validated since its last ingest"
            )
        elif day.quality and not day.quality.passed:
            reasons.append(
                f"delivery day {day.delivery_date} failed its data-quality suite: "
                f"{day.quality.failures[0]}"
            )
    return reasons


def publish_refusals(
    build: BuildRecord | None, days: Sequence[DayGate], suite_version: str
) -> list[str]:
    """Why the build database may not be published; empty when it may. Every ingested day must
    have passed the current raw-day suite on its current ingest, and the build must have
    finished (the dbt step records it only once every model and test it ran passed) with every
    dbt test of the models it built."""
    reasons = day_refusals(days, suite_version)
    if build is None or not build.is_finished:
        reasons.append(
            "the build database holds an unfinished or failed build; run again to rebuild it"
        )
    elif build.untested:
        reasons.append(
            f"the build ran without {len(build.untested)} dbt test(s) of the models it built "
            f"({build.untested[0]}{', ...' if len(build.untested) > 1 else ''}); run build_job"
        )
    return reasons


def untested_after_build(
    previous: BuildRecord | None,
    is_subset: bool,
    tests_of_built_models: set[str],
    tests_run: set[str],
) -> list[str]:
    """The dbt tests (check keys) the build database has not passed as it is after a build of
    some or all models: those of the models built that the run did not select (a hand-picked
    Materialize without checks) and, after a build of some models, those still untested from
    before that this build did not run."""
    carried = set(previous.untested) if previous and is_subset else set()
    return sorted((carried | tests_of_built_models) - tests_run)


def superseding_build(build: BuildRecord | None, run_id: str, built_here: bool) -> str | None:
    """The run whose finished build replaced the one this run made, if any. A run's steps take
    the writer lock one at a time, so another run's dbt step can come between this run's dbt
    step and its publish; that run publishes its own build. A run that executed no dbt step
    (`built_here` false: publish alone, a re-execution of a failed publish) made no build."""
    if build is None or not build.is_finished or build.build_id == run_id or not built_here:
        return None
    return build.build_id


def ingested_since_own_build(
    build: BuildRecord | None,
    run_id: str,
    built_here: bool,
    raw_digest_now: str,
    days: Sequence[DayGate],
    suite_version: str,
) -> bool:
    """Whether this run's publish is refused only because another run ingested after this run
    built: days not validated yet, none failing, and a raw layer that changed since the build.
    The writer lock is taken step by step, so another run's ingest can come between this run's
    dbt step and its publish, before that run's own checks; that run validates, builds and
    publishes what it ingested, and this run leaves the publishing to it."""
    if not (built_here and build and build.is_finished and build.build_id == run_id):
        return False
    if not build.raw_digest_at_build or build.raw_digest_at_build == raw_digest_now:
        return False
    refused = [day for day in days if not is_validated(day, suite_version)]
    failing = [day for day in days if day.quality and not day.quality.passed]
    return bool(refused) and not failing


def is_published(
    stamp: PublishStamp | None, definition: str, raw_digest: str, quality_gate: str
) -> bool:
    """Whether the published warehouse was built from this raw layer under this definition and
    passed this quality gate (false, too, after a build or a publish that failed or was refused
    once its raw data had been ingested)."""
    return bool(
        stamp
        and stamp.definition_hash == definition
        and stamp.raw_digest == raw_digest
        and stamp.quality_gate == quality_gate
    )


@dataclass(frozen=True)
class RunPlan:
    job: str | None  # refresh_job, build_job, or None: nothing to do
    days: tuple[str, ...]  # the delivery days refresh_job ingests
    message: str  # one line for the user


def plan_cli_run(
    pending: Sequence[str],
    days_seen: int,
    full_refresh: bool,
    published: Callable[[], bool],
    ingested_days: Sequence[str],
) -> RunPlan:
    """`servisbot-metrics run`: ingest the new or changed days, then build and publish; with
    nothing new, build only when asked or when the published warehouse is not up to date, and
    never when nothing has been ingested (no day folder holds a landing file yet)."""
    if pending:
        return RunPlan(
            "refresh_job",
            tuple(pending),
            f"ingesting {len(pending)} new or changed delivery day(s) of {days_seen} "
            f"({pending[0]} .. {pending[-1]}), then building and publishing",
        )
    if refusal := empty_build_refusal(ingested_days):
        return RunPlan(None, (), refusal)
    if full_refresh or not published():
        return RunPlan(
            "build_job", (), "building marts (dbt build), checking and publishing the warehouse"
        )
    return RunPlan(None, (), "nothing new since the last run; the published warehouse is unchanged")


def landing_wait(settles_at: float, now: float, waited: float, wait_limit: float) -> float | None:
    """How long a CLI run waits before it lists the landing folder again: 0 when no file is
    still being written (`settles_at` 0), else until the last one will have settled (`run`
    processes everything that has landed, and a file is read only once it has settled). None
    when that would take the run past `wait_limit` seconds of waiting in all: it fails."""
    if not settles_at:
        return 0.0
    wait = max(settles_at - now, 0.05)  # a file changed again at once: list again soon
    return wait if waited + wait <= wait_limit else None


@dataclass(frozen=True)
class LandingRequests:
    due: list[PendingDay]  # to request now
    cursor: dict[str, list[Any]]  # {day: [fingerprint, when requested]}, not yet ingested
    settling: frozenset[str]  # pending days with a file changed less than settle_seconds ago


def landing_requests(
    pending: Sequence[PendingDay],
    requested: Mapping[str, Sequence[Any]],
    now: float,
    settle_seconds: float,
    retry_seconds: float,
) -> LandingRequests:
    """Which pending days the landing sensor requests now, and its new cursor. A day is due once
    none of its files changed for `settle_seconds`, unless the same files were requested less
    than `retry_seconds` ago (a run may be on it; after that, a failed run is retried)."""
    settled = [p for p in pending if now - p.newest_mtime_ns / 1e9 >= settle_seconds]
    due = [
        p
        for p in settled
        if not (
            p.delivery_date in requested
            and requested[p.delivery_date][0] == p.fingerprint
            and now - requested[p.delivery_date][1] < retry_seconds
        )
    ]
    still_pending = {p.delivery_date for p in pending}
    cursor = {d: list(v) for d, v in requested.items() if d in still_pending}
    cursor.update({p.delivery_date: [p.fingerprint, now] for p in due})
    settling = frozenset(p.delivery_date for p in pending if p not in settled)
    return LandingRequests(due, cursor, settling)


def config_rebuild_skip(
    build: BuildRecord | None,
    changed: frozenset[str],
    content_hash: str,
    requested: Mapping[str, Any],
    now: float,
    retry_seconds: float,
) -> str | None:
    """Why the configuration sensor requests no rebuild now, or None to request one of the
    `changed` models. `requested` is its cursor: the hash it last asked for, and when."""
    if build is None:
        return "no build yet: the first build uses the configuration in effect"
    if build.in_progress:
        return (
            "a build is running or did not finish: the next full build (refresh_job, build_job, "
            "`servisbot-metrics run`) applies the configuration in effect"
        )
    if not changed:
        return "the marts are built with the configuration in effect"
    if requested.get("hash") == content_hash and now - requested["at"] < retry_seconds:
        return f"rebuild for configuration {content_hash} requested"
    return None
