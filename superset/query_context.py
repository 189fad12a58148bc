"""The saved ``query_context`` of a chart, built from its ``params`` (Superset's form data).

Superset's frontend builds the query of a chart from its form data each time it renders, so
dashboards do not need this. The REST API (``GET /api/v1/chart/<id>/data``), reports and our
API tests run the *saved* query context instead, which Explore writes when a chart is saved.
Charts in ``assets/charts/`` keep only their params; ``provision.py`` calls :func:`build` at
import so that the two never disagree. Covers the visualisation types the bundle uses.
"""

from __future__ import annotations

import copy
import json
from typing import Any

TIMESERIES = {"echarts_timeseries_line", "echarts_timeseries_bar"}


def _filters(params: dict[str, Any]) -> list[dict[str, Any]]:
    filters = []
    for adhoc in params.get("adhoc_filters", []):
        if adhoc.get("expressionType") != "SIMPLE" or adhoc.get("clause") != "WHERE":
            raise ValueError(f"only simple WHERE filters are supported, got {adhoc}")
        filters.append(
            {"col": adhoc["subject"], "op": adhoc["operator"], "val": adhoc["comparator"]}
        )
    return filters


def _base_axis(column: str, time_grain: str | None) -> dict[str, Any]:
    axis: dict[str, Any] = {
        "columnType": "BASE_AXIS",
        "expressionType": "SQL",
        "label": column,
        "sqlExpression": column,
    }
    if time_grain:
        axis["timeGrain"] = time_grain
    return axis


def _query(params: dict[str, Any]) -> dict[str, Any]:
    """The query object of one chart, as the frontend's buildQuery of its viz type makes it."""
    viz = params["viz_type"]
    query: dict[str, Any] = {
        "filters": _filters(params),
        "extras": {"having": "", "where": ""},
        "applied_time_extras": {},
        "columns": [],
        "metrics": [],
        "orderby": [],
        "annotation_layers": [],
        "row_limit": params.get("row_limit", 10000),
        "series_limit": 0,
        "order_desc": True,
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }
    if viz in {"big_number_total", "pop_kpi"}:
        query["metrics"] = [params["metric"]]
        query["row_limit"] = 1
    elif viz in TIMESERIES:
        x_axis = params["x_axis"]
        groupby = list(params.get("groupby", []))
        metrics = list(params["metrics"])
        query["columns"] = [_base_axis(x_axis, params.get("time_grain_sqla")), *groupby]
        query["series_columns"] = groupby
        query["metrics"] = metrics
        query["orderby"] = [[metrics[0], False]] if groupby else []
        query["time_offsets"] = []
        query["post_processing"] = [
            {
                "operation": "pivot",
                "options": {
                    "index": [x_axis],
                    "columns": groupby,
                    "aggregates": {metric: {"operator": "mean"} for metric in metrics},
                    "drop_missing_columns": False,
                },
            },
            {"operation": "flatten"},
        ]
    elif viz == "table" and params.get("query_mode") == "raw":
        query["columns"] = list(params["all_columns"])
        query["metrics"] = None  # no metrics: rows as they are, no GROUP BY
        # Explore's "Ordering": each item a JSON [column, ascending]
        query["orderby"] = [json.loads(item) for item in params.get("order_by_cols", [])]
    elif viz == "table":
        metrics = list(params["metrics"])
        percent = list(params.get("percent_metrics", []))
        query["columns"] = list(params.get("groupby", []))
        query["metrics"] = metrics + [m for m in percent if m not in metrics]
        sort = params.get("timeseries_limit_metric") or metrics[0]
        query["orderby"] = [[sort, not params.get("order_desc", True)]]
        if percent:
            query["post_processing"] = [
                {
                    "operation": "contribution",
                    "options": {
                        "columns": percent,
                        "rename_columns": [f"%{metric}" for metric in percent],
                    },
                }
            ]
    elif viz == "pie":
        query["columns"] = list(params["groupby"])
        query["metrics"] = [params["metric"]]
        query["orderby"] = [[params["metric"], False]]
    elif viz == "heatmap_v2":
        query["columns"] = [params["x_axis"], params["groupby"]]
        query["metrics"] = [params["metric"]]
        query["orderby"] = [[params["x_axis"], True], [params["groupby"], True]]
    else:
        raise ValueError(f"viz_type {viz!r} is not supported; add it to query_context.py")
    return query


def build(params: dict[str, Any]) -> dict[str, Any]:
    """The query context of a chart with these params (datasource id fixed by the importer)."""
    return {
        "datasource": {"id": 0, "type": "table"},
        "force": False,
        "queries": [_query(params)],
        "form_data": copy.deepcopy(params),
        "result_format": "json",
        "result_type": "full",
    }
