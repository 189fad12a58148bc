"""`servisbot-metrics` in a fresh process that starts with its modules already imported.

A test's CLI run is a real process: its own pid, environment, working folder, open files and
OS locks, stdout, stderr and exit code, as `subprocess.run` of the console script gives. The
process is forked from a fork server (multiprocessing's "forkserver" start method) that
imported what the CLI imports (PRELOAD) once per test worker. That skips the imports (about
5 CPU-s a run) and nothing else: the run itself, dbt's own process included, is the same.

The fork server is a fresh interpreter, not a fork of the test process: it has none of the
test process's threads, and it imports the code as it is on disk when the first run starts.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

PRELOAD = (
    "orchestration.cli",
    "orchestration.definitions",  # dagster, dagster-dbt, the dbt manifest
    "orchestration.quality.raw_days",  # Great Expectations
)

_context: multiprocessing.context.ForkServerContext | None = None
# The environment the fork server started with: what its imports added to it is what a
# console-script process would have added to its own (orchestration.quality sets a default).
_server_env: dict[str, str] = {}


def _forkserver() -> multiprocessing.context.ForkServerContext:
    global _context, _server_env
    if _context is None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        _context, _server_env = context, dict(os.environ)
    return _context


def _child(
    argv: list[str],
    env: dict[str, str],
    server_env: dict[str, str],
    cwd: str,
    out: str,
    err: str,
    new_session: bool,
) -> None:
    """The forked process: the console script's environment, folder and output, then main."""
    from orchestration.cli import main

    if new_session:  # as subprocess.Popen(start_new_session=True): its own process group
        os.setsid()
    set_at_import = {k: v for k, v in os.environ.items() if server_env.get(k) != v}
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update({**set_at_import, **env})
    for fd, path in ((1, out), (2, err)):
        with open(path, "w") as handle:
            os.dup2(handle.fileno(), fd)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors and --help
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


class CliProcess:
    """A started `servisbot-metrics` process (as far as the tests use subprocess.Popen)."""

    def __init__(
        self, argv: Sequence[str], env: dict[str, str], cwd: Path, new_session: bool = False
    ) -> None:
        self.argv = ["servisbot-metrics", *argv]
        self._folder = tempfile.TemporaryDirectory(prefix="sbm-")
        self._out = Path(self._folder.name, "stdout")
        self._err = Path(self._folder.name, "stderr")
        self._process = _forkserver().Process(
            target=_child,
            args=(
                list(argv),
                dict(env),
                _server_env,
                str(cwd),
                str(self._out),
                str(self._err),
                new_session,
            ),
        )
        self._process.start()
        self.pid: int = self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def kill(self) -> None:
        self._process.kill()

    def output(self) -> str:
        """What the process has written to stdout and stderr so far."""
        return "".join(path.read_text() for path in (self._out, self._err) if path.exists())

    def wait(self, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
        """Wait for the exit (killing the process after `timeout`); its code and output."""
        self._process.join(timeout)
        if self._process.exitcode is None:
            self.kill()
            self._process.join()
            raise subprocess.TimeoutExpired(self.argv, timeout or 0)
        result = subprocess.CompletedProcess(
            self.argv,
            self._process.exitcode,
            self._out.read_text() if self._out.exists() else "",
            self._err.read_text() if self._err.exists() else "",
        )
        self._folder.cleanup()
        return result


def run(
    argv: Sequence[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`servisbot-metrics ARGV`, as subprocess.run(..., capture_output=True, text=True)."""
    return CliProcess(argv, env, cwd).wait(timeout)
