"""Importing Great Expectations (~3 s) in the background while the ingest works.

A run executes its steps in one process (the CLI's, or a launched run's worker: the definitions'
in-process executor), and the raw-day quality check follows the ingest there; the ingest spends
its time in DuckDB and Arrow, which release the GIL, so the import costs the run almost nothing.
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
