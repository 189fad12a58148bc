"""What a DuckDB connection Superset opens on the warehouse may touch on disk.

The warehouse file holds views over its Parquet versions in `<warehouse>.data/` (see
orchestration/publish.py; `marts.publish_info` records that folder as `data_dir`, and a copy of
the file reads the original's), so each connection may read that folder and nothing else:
`allowed_directories` is set to it, then `enable_external_access` is turned off, which refuses
every other file, extension installs and loads, and cannot be turned back on (nor
`allowed_directories` changed) from SQL. DuckDB 2.0 takes neither setting from `connect(config=)`
in that order, so superset_config.py applies `lock_down` to every new connection (a SQLAlchemy
pool `connect` event). DuckDB would still let `COPY … TO` and `EXPORT DATABASE` write into the
allowed folder: `writes_files` finds them, and superset_config.py's SQL_QUERY_MUTATOR refuses
them before they reach DuckDB.

No Superset import: the tests apply the same functions to plain DuckDB connections.
"""

from __future__ import annotations

from typing import Any

WRITING_KEYWORDS = frozenset({"COPY", "EXPORT"})
REFUSAL = "statements that write files (COPY, EXPORT) are not allowed on the warehouse"


def data_folder(warehouse: str) -> str:
    """The folder of the warehouse's Parquet versions, with a trailing slash."""
    return f"{warehouse}.data/"


def lock_down(con: Any) -> None:
    """Allow reads of the warehouse's data folder only, then turn external access off.

    DuckDB shares one database instance per path within a process, and these settings belong
    to the instance: a connection to an instance already locked down (by an earlier, still open
    connection, or one opened concurrently) is left as it is. Any other failure is raised, so
    the connection is not used."""
    if _locked(con):
        return
    folder = _published_folder(con).replace("'", "''")
    try:
        con.execute(f"SET allowed_directories = ['{folder}']")
        con.execute("SET enable_external_access = false")
    except Exception:
        if not _locked(con):  # another connection did not lock this instance meanwhile
            raise


def _published_folder(con: Any) -> str:
    """The folder the file's views read, as the publish recorded it (`data_dir` in
    marts.publish_info: a copy of the file still reads its original's folder), else the one
    beside the file."""
    try:
        row = con.execute("SELECT value FROM marts.publish_info WHERE key = 'data_dir'").fetchone()
    except Exception:  # no publish_info: not published by the pipeline
        row = None
    if row and row[0]:
        return str(row[0])
    (path,) = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return data_folder(str(path))


def _locked(con: Any) -> bool:
    (enabled,) = con.execute("SELECT current_setting('enable_external_access')").fetchone()
    return enabled is False or str(enabled).lower() == "false"


def writes_files(sql: str) -> bool:
    """Whether `sql` holds a COPY or EXPORT keyword outside strings, identifiers and comments
    (a column named copy is refused too: the safe side)."""
    from sqlglot.tokens import Tokenizer, TokenType

    try:
        tokens = Tokenizer().tokenize(sql)
    except Exception:  # unparseable: let the keyword search decide
        return any(word in sql.upper() for word in WRITING_KEYWORDS)
    skip = {TokenType.STRING, TokenType.IDENTIFIER}
    return any(t.token_type not in skip and t.text.upper() in WRITING_KEYWORDS for t in tokens)
