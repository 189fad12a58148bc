"""dbt commands forked from a process that has already imported dbt (the test suite's dbt).

Every dbt command of a test run (the dbt asset's, through SBM_DBT_EXECUTABLE, and the tests'
own) is a real dbt process with its own pid, arguments, environment, working folder, standard
streams and exit code. It is forked from a server that imported dbt-core and dbt-duckdb once
per test worker, which saves dbt's start-up (about 2 CPU-s a command), and that ran one `dbt
parse` of the project into a scratch folder before its first fork: a fork starts with dbt's
in-process caches warm (the JSON schemas it validates configurations with, built once per
class, and the like), so the full parse of a new warehouse's first build (its vars and profile
path are its own) costs 4.1 CPU-s instead of 6.9, for 4 more CPU-s at the server's start
(medians of 5, `scripts/bench_dbt_forkserver.py`). The caches are those dbt keeps between
programmatic invocations in one process; nothing of the scratch project's state reaches a fork.

`Server.launcher` is a small executable with dbt's command line: it connects to the server's
Unix socket and sends its arguments, environment and folder, and its standard streams (as file
descriptors, SCM_RIGHTS). The server forks; the fork takes them, runs dbt's CLI as the `dbt`
console script does, and sends its exit code back. The launcher passes on SIGINT and SIGTERM
(how dagster-dbt stops dbt) and exits with dbt's code; when the launcher is killed before dbt
finished, the fork kills itself, as dbt dies with its process group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

_INT = struct.Struct("!i")
_LENGTH = struct.Struct("!Q")

LAUNCHER = """#!{python} -IS
import json, os, signal, socket, struct, sys

def receive(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect({socket_path!r})
body = json.dumps({{"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd()}}).encode()
socket.send_fds(sock, [struct.pack("!Q", len(body))], [0, 1, 2])
sock.sendall(body)
pid = struct.unpack("!i", receive(sock, 4))[0]
for number in (signal.SIGINT, signal.SIGTERM):
    signal.signal(number, lambda n, _: os.kill(pid, n))
code = receive(sock, 4)
sys.exit(struct.unpack("!i", code)[0] if code else 1)  # no code: dbt was killed
"""


def _receive(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("the launcher went away")
        data += chunk
    return data


def _run_dbt(conn: socket.socket) -> None:
    """In the fork: become the launcher's dbt process, run dbt, report its exit code, exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    header, fds, _, _ = socket.recv_fds(conn, _LENGTH.size, 3)
    header += _receive(conn, _LENGTH.size - len(header))
    request = json.loads(_receive(conn, _LENGTH.unpack(header)[0]))
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.argv = ["dbt", *request["argv"][1:]]
    conn.sendall(_INT.pack(os.getpid()))
    finished = threading.Event()

    def die_with_the_launcher() -> None:
        # a dbt process is in its parent's process group, so `kill -9` of the group (a test
        # killing a CLI run and its dbt) ends it too: this fork is not, so it ends itself when
        # the launcher is gone before dbt finished
        if not conn.recv(1) and not finished.is_set():
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=die_with_the_launcher, daemon=True).start()
    from dbt.cli.main import cli

    try:
        cli()  # the `dbt` console script: exits with dbt's code
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # as an uncaught exception would: traceback on stderr, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    finished.set()
    conn.sendall(_INT.pack(code))
    sys.exit(code)  # and the interpreter's exit, as dbt's own process has it


def _warm_up() -> None:
    """`dbt parse` of the project into a scratch folder, in this process (dbt's standard
    streams on stderr: stdout says "ready")."""
    from dbt.cli.main import dbtRunner

    from orchestration.settings import DBT_PROJECT_DIR

    project = str(DBT_PROJECT_DIR)
    cwd, environment, stdout = os.getcwd(), dict(os.environ), os.dup(1)
    os.environ["DO_NOT_TRACK"] = "1"
    os.dup2(2, 1)
    try:
        with tempfile.TemporaryDirectory(prefix="dbt-warm-up-") as scratch:
            result = dbtRunner().invoke(
                # the static parser (dbt-extractor, in Rust) leaves threads of its own, which a
                # fork would not have while their locks stay taken: the forks' dbt hung in it
                ["parse", "--quiet", "--no-static-parser", "--project-dir", project,
                 "--profiles-dir", project,
                 "--target-path", f"{scratch}/target", "--log-path", f"{scratch}/logs",
                 "--vars", json.dumps({"state_dir": scratch})]
            )  # fmt: skip
    finally:
        sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
        os.environ.clear()
        os.environ.update(environment)
        os.chdir(cwd)
    if not result.success:
        raise RuntimeError(f"the warm-up `dbt parse` failed: {result.exception}")
    threads = os.listdir("/proc/self/task")  # the native ones too
    if len(threads) != 1:  # a fork has only the thread that forked
        raise RuntimeError(f"dbt left {len(threads) - 1} thread(s) running")


def serve(socket_path: str) -> None:
    # dbt-core, and dbt-duckdb (which a command loads for its profile)
    import dbt.adapters.duckdb.impl
    import dbt.cli.main  # noqa: F401

    _warm_up()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the forks
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if os.fork() == 0:
            server.close()
            _run_dbt(conn)  # exits
        conn.close()


class Server:
    """The fork server of one test worker, and its launcher."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="dbt-forkserver-"))
        socket_path = self.folder / "dbt.sock"  # short: a Unix socket's path has 107 bytes
        self.launcher = self.folder / "dbt"
        script = LAUNCHER.format(python=sys.executable, socket_path=str(socket_path))
        self.launcher.write_text(script)
        self.launcher.chmod(0o755)
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(socket_path)], stdout=subprocess.PIPE, text=True
        )
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the dbt fork server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()


if __name__ == "__main__":
    serve(sys.argv[1])
