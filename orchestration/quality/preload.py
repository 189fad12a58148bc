"""Importing Great Expectations (~3 s) in the background while the ingest works.

A CLI run executes its steps in one process, and the raw-day quality check follows the ingest
there; the ingest spends its time in DuckDB and Arrow, which release the GIL, so the import
costs the run almost nothing. Runs launched from Dagster (a process per step) do not preload.
"""

from __future__ import annotations

import importlib
import threading

MODULE = "orchestration.quality.raw_days"


def start() -> threading.Thread:
    thread = threading.Thread(
        target=importlib.import_module, args=(MODULE,), name="gx-preload", daemon=True
    )
    thread.start()
    return thread
