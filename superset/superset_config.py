"""Superset configuration for servisbot-metrics. Everything comes from the environment.

Superset loads this file through ``SUPERSET_CONFIG_PATH`` (``provision.py`` sets it).

Environment:
  SUPERSET_STATE_DIR      folder for the metadata DB (sqlite), generated secrets and logs
                          (created if missing). Required.
  WAREHOUSE_PATH          absolute path of the published DuckDB warehouse. Required by
                          ``provision.py``; only informational here.
  SUPERSET_SECRET_KEY     optional; else generated once into $SUPERSET_STATE_DIR/secret_key
  SUPERSET_ADMIN_PASSWORD optional; else generated once by ``provision.py setup`` into
                          $SUPERSET_STATE_DIR/admin_password

Generated secret files are created with mode 0600 and never overwritten.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

SECRET_KEY_FILE = "secret_key"
ADMIN_PASSWORD_FILE = "admin_password"


def state_dir() -> Path:
    """The folder holding Superset's state; created (0700) if missing."""
    raw = os.environ.get("SUPERSET_STATE_DIR", "").strip()
    if not raw:
        raise RuntimeError("SUPERSET_STATE_DIR is not set: point it at a folder for Superset state")
    path = Path(raw).expanduser().resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def env_or_generated_secret(env_var: str, path: Path) -> tuple[str, bool]:
    """Return ``(value, generated_now)``: the env var if set, else the content of the 0600 file
    at ``path``, creating it with a fresh random value on first use."""
    value = os.environ.get(env_var, "").strip()
    if value:
        return value, False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise RuntimeError(f"{path} is empty; delete it to generate a new secret") from None
        return value, False
    value = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(value + "\n")
    return value, True


_STATE = state_dir()
(_STATE / "logs").mkdir(exist_ok=True)
(_STATE / "uploads").mkdir(exist_ok=True)

# --- Core -----------------------------------------------------------------------------------
SECRET_KEY, _ = env_or_generated_secret("SUPERSET_SECRET_KEY", _STATE / SECRET_KEY_FILE)
# Only used by embedded dashboards (off); never leave Superset's public default in place.
GUEST_TOKEN_JWT_SECRET = hashlib.sha256(f"guest-token:{SECRET_KEY}".encode()).hexdigest()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{_STATE / 'superset.db'}?check_same_thread=false"
# Every request writes a log row from one of several server threads: on a busy disk a writer
# waits up to 30 s for SQLite's lock instead of failing the request after the default 5 s.
SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"connect_args": {"timeout": 30}}
DATA_DIR = str(_STATE)
UPLOAD_FOLDER = str(_STATE / "uploads") + "/"
IMG_UPLOAD_FOLDER = UPLOAD_FOLDER

# --- Logging: to stderr and a rotating file in the state folder -----------------------------
ENABLE_TIME_ROTATE = True
FILENAME = str(_STATE / "logs" / "superset.log")
BACKUP_COUNT = 7

# --- Caches: in-process only, nothing needing Redis -----------------------------------------
# Superset objects (metadata) may be cached briefly; query results are not cached, so a newly
# published warehouse shows up on the next query without a restart.
CACHE_CONFIG: dict[str, Any] = {
    "CACHE_TYPE": "SimpleCache",
    "CACHE_DEFAULT_TIMEOUT": 300,
    "CACHE_KEY_PREFIX": "sbm_",
}
DATA_CACHE_CONFIG: dict[str, Any] = {"CACHE_TYPE": "NullCache"}
THUMBNAIL_CACHE_CONFIG: dict[str, Any] = {"CACHE_TYPE": "NullCache"}

# --- Features ---------------------------------------------------------------------------------
# Native dashboard filters are always on in Superset 6; nothing here turns them off.
FEATURE_FLAGS: dict[str, bool] = {
    "ALERT_REPORTS": False,  # would need Celery + a browser
    "THUMBNAILS": False,
    "EMBEDDED_SUPERSET": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
    # Registers "Big Number with Time Period Comparison" (pop_kpi), which the Usage Metrics
    # big numbers use to compare the chosen range with the period just before it.
    "CHART_PLUGINS_EXPERIMENTAL": True,
}

# --- No phoning home ----------------------------------------------------------------------
# The UI renders a Scarf telemetry pixel and may contact map/tile/font hosts. The
# content-security policy below only allows this server itself, so browsers block all of it
# before anything is sent (tests/test_superset.py checks both, in Chromium). There is no switch
# for the pixel here: Superset 6.1's frontend is built with it (SCARF_ANALYTICS is a variable of
# the frontend build, not a key of this file).
TALISMAN_ENABLED = True
_CSP_SELF = ["'self'"]
TALISMAN_CONFIG: dict[str, Any] = {
    "content_security_policy": {
        "base-uri": _CSP_SELF,
        "default-src": _CSP_SELF,
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": _CSP_SELF,
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": _CSP_SELF,
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}
TALISMAN_DEV_CONFIG = TALISMAN_CONFIG
THEME_FONT_URL_ALLOWED_DOMAINS: list[str] = []
MAPBOX_API_KEY = ""
SLACK_ENABLE_AVATARS = False
DOCUMENTATION_URL = None
BUG_REPORT_URL = None
TROUBLESHOOTING_LINK = ""

# --- Safety -------------------------------------------------------------------------------
PREVENT_UNSAFE_DB_CONNECTIONS = True
SHOW_STACKTRACE = False
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True

# --- The warehouse's DuckDB connections: read the warehouse and its Parquet versions only -------
# See duckdb_guard.py. Every new DBAPI connection of the DuckDB engine (a NullPool: one per
# query) is locked down before Superset uses it; a failure there fails the query, never runs it
# unguarded.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import duckdb_guard  # noqa: E402

sys.path.pop(0)


@event.listens_for(Pool, "connect")
def _lock_down_duckdb(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.split(".")[0] == "duckdb_engine":
        duckdb_guard.lock_down(dbapi_connection)


def SQL_QUERY_MUTATOR(sql: str, **kwargs: Any) -> str:  # Superset's name for the hook
    """Refuse statements that write files (COPY, EXPORT) on the DuckDB warehouse."""
    database = kwargs.get("database")
    if getattr(database, "backend", None) == "duckdb" and duckdb_guard.writes_files(sql):
        from superset.errors import ErrorLevel, SupersetError, SupersetErrorType
        from superset.exceptions import SupersetSecurityException

        raise SupersetSecurityException(
            SupersetError(
                message=duckdb_guard.REFUSAL,
                error_type=SupersetErrorType.DML_NOT_ALLOWED_ERROR,
                level=ErrorLevel.ERROR,
            )
        )
    return sql
