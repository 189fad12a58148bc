"""Provision and serve the servisbot-metrics Superset. Run with superset/.venv/bin/python.

  provision.py setup               migrate the metadata DB, create/refresh the `admin` user,
                                   sync roles, import superset/assets/ (overwrite, idempotent)
  provision.py serve [--port N]    run the web server on 127.0.0.1 in the foreground

Environment: SUPERSET_STATE_DIR, WAREHOUSE_PATH, optional SUPERSET_SECRET_KEY and
SUPERSET_ADMIN_PASSWORD (see superset_config.py and README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import query_context
import yaml
from dbt_docs import DbtDocs, DocsError

HERE = Path(__file__).resolve().parent
ASSETS_DIR = HERE / "assets"
CONFIG_PATH = HERE / "superset_config.py"
WAREHOUSE_PLACEHOLDER = "__WAREHOUSE_PATH__"
ADMIN_USERNAME = "admin"
VIEWER_ROLE = "Metrics Viewer"
ANALYST_ROLE = "Analyst"


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

    Fills the database URI from WAREHOUSE_PATH, the datasets' descriptions and every
    {{ doc('...') }} from the dbt docs (see dbt_docs.py), and gives each chart the query_context
    that Explore would save with it, built from the chart's params (see query_context.py).
    """
    docs = DbtDocs.load()
    contents: dict[str, str] = {}
    for path in sorted(ASSETS_DIR.rglob("*.yaml")):
        name = path.relative_to(ASSETS_DIR).as_posix()
        try:
            config = docs.render_all(yaml.safe_load(path.read_text(encoding="utf-8")))
            if name.startswith("datasets/"):
                docs.describe_dataset(config)
        except DocsError as exc:
            raise ProvisionError(f"{path}: {exc}") from exc
        if name.startswith("databases/"):
            uri = str(config["sqlalchemy_uri"])
            config["sqlalchemy_uri"] = uri.replace(WAREHOUSE_PLACEHOLDER, str(warehouse))
        elif name.startswith("charts/"):
            try:
                config["query_context"] = json.dumps(query_context.build(config["params"]))
            except (KeyError, ValueError) as exc:
                raise ProvisionError(f"{path}: cannot build its query_context: {exc}") from exc
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


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    env_var: str
    password_file: str


# One user per role. Passwords come from the environment, else are generated once into 0600
# files in the state folder (printed by the setup run that generated them).
USERS = (
    DemoUser(ADMIN_USERNAME, "Admin", "SUPERSET_ADMIN_PASSWORD", "admin_password"),
    DemoUser("viewer", VIEWER_ROLE, "SUPERSET_VIEWER_PASSWORD", "viewer_password"),
    DemoUser("analyst", ANALYST_ROLE, "SUPERSET_ANALYST_PASSWORD", "analyst_password"),
)
# Gamma's permissions without these are read-only: no creating or editing charts, dashboards,
# tags or themes. Filter state and permalinks stay writable so that native filters work.
VIEWER_EXCLUDED = {("can_write", name) for name in ("Chart", "Dashboard", "Tag", "Theme")}
MARTS_SCHEMA = "marts"


def user_passwords(state: Path, config: Any) -> dict[str, str]:
    passwords = {}
    for user in USERS:
        path = state / user.password_file
        password, generated = config.env_or_generated_secret(user.env_var, path)
        if generated:
            print(
                f"Generated the Superset {user.username} password (user '{user.username}', "
                f"role {user.role}): {password}\n"
                f"It is stored in {path} (mode 0600); set {user.env_var} to choose one.",
                flush=True,
            )
        passwords[user.username] = password
    return passwords


def sync_roles(security_manager: Any, datasets: list[Any]) -> None:
    """(Re)create the Metrics Viewer and Analyst roles from Superset's built-in ones.

    Metrics Viewer: Gamma minus writes, plus read access to the bundle's datasets only.
    Analyst: the same plus SQL Lab (built-in role sql_lab) on the `marts` schema only; the
    database refuses DML, and `audit` tables are out of reach (no access to that schema).
    """
    gamma = security_manager.find_role("Gamma")
    sql_lab = security_manager.find_role("sql_lab")
    if gamma is None or sql_lab is None:
        raise ProvisionError("roles Gamma/sql_lab missing: `superset init` did not run")
    read_only = [
        pv
        for pv in gamma.permissions
        if (pv.permission.name, pv.view_menu.name) not in VIEWER_EXCLUDED
    ]
    dataset_access = [
        security_manager.add_permission_view_menu("datasource_access", dataset.perm)
        for dataset in datasets
    ]
    schemas = {dataset.schema_perm for dataset in datasets if dataset.schema == MARTS_SCHEMA}
    schema_access = [
        security_manager.add_permission_view_menu("schema_access", perm) for perm in schemas
    ]
    viewer = security_manager.add_role(VIEWER_ROLE)
    viewer.permissions = read_only + dataset_access
    analyst = security_manager.add_role(ANALYST_ROLE)
    extra = [pv for pv in sql_lab.permissions if pv not in read_only]
    analyst.permissions = read_only + extra + dataset_access + schema_access


def sync_user(security_manager: Any, user: DemoUser, password: str) -> Any:
    role = security_manager.find_role(user.role)
    if role is None:
        raise ProvisionError(f"role {user.role!r} missing")
    existing = security_manager.find_user(username=user.username)
    if existing is None:
        created = security_manager.add_user(
            user.username, "Superset", user.role, f"{user.username}@localhost", role,
            password=password,
        )  # fmt: skip
        if not created:
            raise ProvisionError(f"could not create user {user.username!r}")
        print(f"Created user {user.username!r} (role {user.role})", flush=True)
        return created
    existing.roles = [role]
    existing.active = True
    security_manager.update_user(existing)
    security_manager.reset_password(existing.id, password)
    print(f"Refreshed user {user.username!r} (role {user.role})", flush=True)
    return existing


def set_up_metadata(passwords: dict[str, str], warehouse: Path) -> None:
    """What `superset db upgrade` and `superset init` do, then the bundle's import with
    overwrite and the roles' and users' sync: all in one Superset app of this process (each of
    Superset's commands would start an app of its own, about 6 CPU-s each)."""
    from flask import g
    from flask_migrate import upgrade
    from superset.app import create_app

    contents = render_bundle(warehouse)
    app = create_app()
    # Alembic would otherwise load its own logging configuration, which silences every logger
    # that exists (Superset's warnings during the import and the users' sync below)
    app.config["ALEMBIC_SKIP_LOG_CONFIG"] = True
    with app.app_context():
        # Superset's models can only be imported once the app exists.
        from superset.commands.importers.v1.assets import ImportAssetsCommand
        from superset.connectors.sqla.models import SqlaTable
        from superset.extensions import appbuilder, db, security_manager
        from superset.models.dashboard import Dashboard

        try:
            print("+ superset db upgrade", flush=True)
            upgrade()  # the migrations folder Superset's app registered (flask-migrate)
            print("+ superset init", flush=True)
            appbuilder.add_permissions(update_perms=True)
            security_manager.sync_role_definitions()
            db.session.commit()
        except Exception as exc:
            raise ProvisionError(f"setting up Superset's metadata database failed: {exc}") from exc

        admin = USERS[0]
        user = sync_user(security_manager, admin, passwords[admin.username])
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
        dataset_uuids = [
            UUID(yaml.safe_load(text)["uuid"])
            for name, text in contents.items()
            if name.startswith("datasets/")
        ]
        datasets = db.session.query(SqlaTable).filter(SqlaTable.uuid.in_(dataset_uuids)).all()
        sync_roles(security_manager, datasets)
        for demo in USERS[1:]:
            sync_user(security_manager, demo, passwords[demo.username])
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
    passwords = user_passwords(state, config)
    set_up_metadata(passwords, warehouse)
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
        f"Serving Superset on http://{bind}/ (users "
        + ", ".join(f"'{u.username}' ({u.role})" for u in USERS)
        + f"; passwords from their environment variables or the *_password files in {state})",
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
