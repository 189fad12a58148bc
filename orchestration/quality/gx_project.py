"""A Great Expectations 1.x file project in the state folder, validating pandas frames.

Frames are read from DuckDB by the caller: GX over SQLAlchemy + duckdb-engine fails at metric
resolution (GX issues 10738, 11579). Every validation is stored, and Data Docs (HTML) are
rebuilt into `<state>/gx/uncommitted/data_docs/local_site/` by `build_docs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig

DATASOURCE = "frames"
BATCH = "whole_frame"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str  # "expect_column_values_to_be_unique(event_id)"
    passed: bool
    observed: str  # observed value or unexpected count, for the metadata table
    column: str | None = None
    # the failing rows, as {row key column: value, column: value}, when validated with a row key
    unexpected_rows: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SuiteOutcome:
    passed: bool
    expectations: list[ExpectationOutcome]

    @property
    def failures(self) -> list[str]:
        return [f"{e.expectation}: {e.observed}" for e in self.expectations if not e.passed]

    def markdown(self) -> str:
        rows = "\n".join(
            f"| {e.expectation} | {'pass' if e.passed else '**FAIL**'} | {e.observed} |"
            for e in self.expectations
        )
        return f"| expectation | result | observed |\n|---|---|---|\n{rows}"


def _label(config: Any) -> str:
    kwargs = config.kwargs
    columns = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
    return f"{config.type}({', '.join(columns)})"


def _observed(result: dict[str, Any]) -> str:
    if result.get("observed_value") is not None:
        return str(result["observed_value"])
    if "unexpected_count" in result:
        return f"{result['unexpected_count']} unexpected of {result.get('element_count')}"
    return ""


class GxProject:
    """Suites, validation definitions and checkpoints, created idempotently on first use."""

    def __init__(self, state: Path) -> None:
        state.mkdir(parents=True, exist_ok=True)
        self._context = gx.get_context(mode="file", project_root_dir=str(state))
        if self._context.variables.progress_bars != ProgressBarsConfig(globally=False):
            self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self._context.variables.save()
        self._source = self._context.data_sources.add_or_update_pandas(DATASOURCE)
        self._checkpoints: dict[str, Any] = {}

    def _checkpoint(self, suite_name: str, expectations: list[Any], row_key: str | None) -> Any:
        if suite_name not in self._checkpoints:
            names = {asset.name for asset in self._source.assets}
            asset = (
                self._source.get_asset(suite_name)
                if suite_name in names
                else self._source.add_dataframe_asset(suite_name)
            )
            batch = (
                asset.get_batch_definition(BATCH)
                if any(b.name == BATCH for b in asset.batch_definitions)
                else asset.add_batch_definition_whole_dataframe(BATCH)
            )
            suite = self._context.suites.add_or_update(
                gx.ExpectationSuite(name=suite_name, expectations=expectations)
            )
            validation = self._context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite_name, data=batch, suite=suite)
            )
            self._checkpoints[suite_name] = self._context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=suite_name,
                    validation_definitions=[validation],
                    result_format=(
                        {"result_format": "COMPLETE", "unexpected_index_column_names": [row_key]}
                        if row_key
                        else {"result_format": "SUMMARY"}
                    ),
                )
            )
        return self._checkpoints[suite_name]

    def validate(
        self,
        suite_name: str,
        expectations: list[Any],
        frame: Any,
        batch: str,
        row_key: str | None = None,
    ) -> SuiteOutcome:
        """Validate `frame` against the suite; the result is stored under the run name `batch`.
        With `row_key`, each outcome lists its failing rows identified by that column."""
        checkpoint = self._checkpoint(suite_name, expectations, row_key)
        result = checkpoint.run(
            batch_parameters={"dataframe": frame},
            run_id=gx.RunIdentifier(run_name=f"{suite_name} {batch}"),
        )
        (validation,) = result.run_results.values()
        outcomes = [
            ExpectationOutcome(
                _label(r.expectation_config),
                bool(r.success),
                _observed(r.result),
                r.expectation_config.kwargs.get("column"),
                tuple(r.result.get("unexpected_index_list") or ()),
            )
            for r in validation.results
        ]
        return SuiteOutcome(bool(result.success), outcomes)

    def build_docs(self) -> Path:
        self._context.build_data_docs()
        (site,) = self._context.get_docs_sites_urls()
        return Path(site["site_url"].removeprefix("file://"))
