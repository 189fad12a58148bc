"""Dagster's SQLite event log, with its connections kept open.

The stock `SqliteEventLogStorage` opens and closes a connection for every event. Closing the
last connection to a WAL database checkpoints it, which syncs the file: about 9 ms an event on
this machine's disk, and a dbt build records ~1,300 events (a materialization per model, a
check evaluation and its plan per dbt test). Keeping a few connections open per process, with
`synchronous=NORMAL` (in WAL mode: safe against a crashed or killed process, not against power
loss, which may drop the last events of a run), takes it to about 1.5 ms.

The stock storage also asks whether a table exists (`has_table`, through `supports_asset_checks`
and others) with a new connection to the index for each asset check evaluation, that is for
each dbt test; a table, once there, stays, so an answer of yes is kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

OPEN_SHARDS = 4  # the index and the runs being written or read; older ones are closed


def _synchronous_normal(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` whose shards (a database per run, plus the index) keep their
    connections open between events."""

    def __init__(self, base_dir: str, inst_data: Any = None) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables_present: set[str] = set()
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(
        cls, inst_data: Any, config_value: Any
    ) -> PooledSqliteEventLogStorage:  # the parent's builds its own class
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    pool_size=1,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
                event.listen(engine, "connect", _synchronous_normal)
            self._engines[shard] = engine
            while len(self._engines) > OPEN_SHARDS:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        if table_name in self._tables_present:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables_present.add(table_name)
        return present

    def _close_all(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        self._close_all()  # it deletes the shards' files
        self._tables_present.clear()
        super().wipe()

    def dispose(self) -> None:
        self._close_all()
        super().dispose()
