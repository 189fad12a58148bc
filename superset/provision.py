"""Provision and serve the servisbot-metrics Superset. Run with superset/.venv/bin/python.

  provision.py setup               migrate the metadata DB, create/refresh the `admin` user,
                                   sync roles, import superset/assets/ (overwrite, idempotent)
  provision.py serve [--port N]    run the web server on 127.0.0.1 in the foreground

Environment: SUPERSET_STATE_DIR, WAREHOUSE_PATH, optional SUPERSET_SECRET_KEY and
SUPERSET_ADMIN_PASSWORD (see superset_config.py and README.md).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ASSETS_DIR = HERE / "assets"
CONFIG_PATH = HERE / "superset_config.py"
WAREHOUSE_PLACEHOLDER = "__WAREHOUSE_PATH__"
ADMIN_USERNAME = "admin"


class ProvisionError(Exception):
    """A failure reported to the user as one line on stderr."""


def _load_config_module() -> Any:
    """Import superset_config.py (validates SUPERSET_STATE_DIR, creates the secret key)."""
    os.environ["SUPERSET_CONFIG_PATH"] = str(CONFIG_PATH)
    sys.path.insert(0, str(HERE))
    try:
        import superset_config
    except RuntimeError as exc:
        raise ProvisionError(str(exc)) from exc
    finally:
        sys.path.remove(str(HERE))
    return superset_config


def warehouse_path() -> Path:
    raw = os.environ.get("WAREHOUSE_PATH", "").strip()
    if not raw:
        raise ProvisionError("WAREHOUSE_PATH is not set: the published DuckDB file to read")
    path = Path(raw)
    if not path.is_absolute():
        raise ProvisionError(f"WAREHOUSE_PATH must be an absolute path, got {raw!r}")
    if any(char in raw for char in "?#%"):
        raise ProvisionError(f"WAREHOUSE_PATH must not contain '?', '#' or '%': {raw!r}")
    return path


def render_bundle(warehouse: Path) -> dict[str, str]:
    """The assets bundle as {path inside bundle: YAML text}, ready for Superset's importer.

    Fills the database URI from WAREHOUSE_PATH and completes each chart's query_context with
    its form_data (the chart's params), as Explore does when saving a chart.
    """
    contents: dict[str, str] = {}
    for path in sorted(ASSETS_DIR.rglob("*.yaml")):
        name = path.relative_to(ASSETS_DIR).as_posix()
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        if name.startswith("databases/"):
            uri = str(config["sqlalchemy_uri"])
            config["sqlalchemy_uri"] = uri.replace(WAREHOUSE_PLACEHOLDER, str(warehouse))
        elif name.startswith("charts/") and config.get("query_context"):
            query_context = json.loads(config["query_context"])
            query_context["form_data"] = copy.deepcopy(config["params"])
            config["query_context"] = json.dumps(query_context)
        contents[name] = yaml.safe_dump(config, sort_keys=False)
    if "metadata.yaml" not in contents:
        raise ProvisionError(f"no metadata.yaml in {ASSETS_DIR}")
    return contents


def superset_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SUPERSET_CONFIG_PATH"] = str(CONFIG_PATH)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _venv_bin(name: str) -> Path:
    return Path(sys.executable).with_name(name)


def run_superset_cli(*args: str) -> None:
    cmd = [str(_venv_bin("superset")), *args]
    print(f"+ superset {' '.join(args)}", flush=True)
    result = subprocess.run(cmd, env=superset_env(), check=False)
    if result.returncode != 0:
        raise ProvisionError(f"`superset {' '.join(args)}` failed with exit {result.returncode}")


def admin_password(state: Path, config: Any) -> str:
    path = state / config.ADMIN_PASSWORD_FILE
    password, generated = config.env_or_generated_secret("SUPERSET_ADMIN_PASSWORD", path)
    if generated:
        print(
            f"Generated the Superset admin password (user '{ADMIN_USERNAME}'): {password}\n"
            f"It is stored in {path} (mode 0600); set SUPERSET_ADMIN_PASSWORD to choose one.",
            flush=True,
        )
    return password


def import_assets(password: str, warehouse: Path) -> None:
    """Create/refresh the admin user, then import the bundle with overwrite, in-process."""
    from flask import g
    from superset.app import create_app

    contents = render_bundle(warehouse)
    app = create_app()
    with app.app_context():
        # Superset's models can only be imported once the app exists.
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.extensions import db, security_manager
        from superset.models.dashboard import Dashboard

        role = security_manager.find_role("Admin")
        if role is None:
            raise ProvisionError("role 'Admin' missing: `superset init` did not run")
        user = security_manager.find_user(username=ADMIN_USERNAME)
        if user is None:
            user = security_manager.add_user(
                ADMIN_USERNAME, "Superset", "Admin", "admin@localhost", role, password=password
            )
            if not user:
                raise ProvisionError(f"could not create user {ADMIN_USERNAME!r}")
            print(f"Created user {ADMIN_USERNAME!r}", flush=True)
        else:
            user.roles = [role]
            user.active = True
            security_manager.update_user(user)
            security_manager.reset_password(user.id, password)
            print(f"Refreshed user {ADMIN_USERNAME!r}", flush=True)

        g.user = user
        try:
            ImportAssetsCommand(contents).run()
        except Exception as exc:
            cause = exc.__cause__ or exc
            detail = cause.normalized_messages() if hasattr(cause, "normalized_messages") else cause
            raise ProvisionError(f"importing {ASSETS_DIR} failed: {detail}") from exc

        # Native filters scoped to the whole dashboard: record the imported chart ids, as the
        # dashboard editor does when a filter is saved.
        for name, text in contents.items():
            if not name.startswith("dashboards/"):
                continue
            uuid = yaml.safe_load(text)["uuid"]
            dashboard = db.session.query(Dashboard).filter_by(uuid=uuid).one()
            metadata = json.loads(dashboard.json_metadata or "{}")
            chart_ids = sorted(chart.id for chart in dashboard.slices)
            for native_filter in metadata.get("native_filter_configuration", []):
                excluded = set(native_filter.get("scope", {}).get("excluded", []))
                native_filter["chartsInScope"] = [i for i in chart_ids if i not in excluded]
            dashboard.json_metadata = json.dumps(metadata)
        db.session.commit()
        print(f"Imported {len(contents) - 1} assets from {ASSETS_DIR}", flush=True)


def cmd_setup(_: argparse.Namespace) -> None:
    warehouse = warehouse_path()
    config = _load_config_module()
    state: Path = config.state_dir()
    if not warehouse.exists():
        print(
            f"warning: {warehouse} does not exist yet; charts fail until it is published",
            file=sys.stderr,
        )
    password = admin_password(state, config)
    run_superset_cli("db", "upgrade")
    run_superset_cli("init")
    import_assets(password, warehouse)
    print(f"Superset is set up in {state}", flush=True)


def cmd_serve(args: argparse.Namespace) -> None:
    config = _load_config_module()
    state: Path = config.state_dir()
    if not (state / "superset.db").exists():
        raise ProvisionError(f"no metadata DB in {state}: run `provision.py setup` first")
    bind = f"127.0.0.1:{args.port}"
    gunicorn = _venv_bin("gunicorn")
    if gunicorn.exists():
        argv = [
            str(gunicorn), "--bind", bind, "--workers", str(args.workers),
            "--worker-class", "gthread", "--threads", "4", "--timeout", "120",
            "--limit-request-line", "0", "--limit-request-field_size", "0",
            "superset.app:create_app()",
        ]  # fmt: skip
    else:
        argv = [str(_venv_bin("superset")), "run", "--host", "127.0.0.1",
                "--port", str(args.port), "--with-threads"]  # fmt: skip
    print(
        f"Serving Superset on http://{bind}/ (user '{ADMIN_USERNAME}', password from "
        f"SUPERSET_ADMIN_PASSWORD or {state / config.ADMIN_PASSWORD_FILE})",
        flush=True,
    )
    os.execve(argv[0], argv, superset_env())


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provision.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="Environment: SUPERSET_STATE_DIR, WAREHOUSE_PATH, SUPERSET_SECRET_KEY (optional), "
        "SUPERSET_ADMIN_PASSWORD (optional).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    setup = commands.add_parser("setup", help="migrate, create admin, init, import assets")
    setup.set_defaults(func=cmd_setup)
    serve = commands.add_parser("serve", help="run the web server on 127.0.0.1 (foreground)")
    serve.add_argument("--port", type=_port, default=8088, help="TCP port (default 8088)")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ProvisionError as exc:
        print(f"provision.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
