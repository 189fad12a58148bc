"""Expensive test inputs built once per pytest run, whatever the number of xdist workers.

A session-scoped fixture runs once per process: with `pytest -n 2` each worker would generate
the demo landing files and publish the demo warehouses again. `build_once` builds an artifact
in a folder shared by the workers of this run (the run's own base temporary folder, never one
shared with another pytest run), under an exclusive file lock: the first worker to ask builds
it, a worker asking meanwhile waits for it, later ones find it done. A failed build is
recorded, so the other worker fails at once with the same message instead of building again.

The artifacts are inputs shared by several tests: a test that changes one works on its own
copy (see ``clone_site`` in conftest.py).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The base temporary folder of this pytest run: the controller's under xdist (each
    worker's own is a sub-folder `popen-gwN` of it), else this process's."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The folder `name` of this run's shared artifacts, filled by `build(folder)` once."""
    shared = run_root(tmp_path_factory) / "shared"
    shared.mkdir(exist_ok=True)
    folder, done, failed = shared / name, shared / f"{name}.done", shared / f"{name}.failed"
    with (shared / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if done.exists():
            return folder
        if failed.exists():
            pytest.fail(f"building {name} failed in another worker:\n{failed.read_text()}")
        if folder.exists():  # a worker died while building it
            shutil.rmtree(folder)
        folder.mkdir()
        try:
            build(folder)
        except BaseException:
            failed.write_text(traceback.format_exc()[-6000:])
            raise
        done.touch()
        return folder
