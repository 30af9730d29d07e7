"""The state store on a PostgreSQL server (psycopg 3), shared by daemons on several hosts.

Same SQL and schema as SQLite (:mod:`crmseg.state.sql`), with these dialect choices:

- ``?`` placeholders become ``%s``; new ids come from ``INSERT ... RETURNING id``;
  ``{serial}`` is ``BIGSERIAL PRIMARY KEY``, ``{big}`` ``BIGINT`` and ``{real}``
  ``DOUBLE PRECISION`` (deal amounts keep every digit SQLite's ``REAL`` keeps).
- Every text column uses the ``"C"`` collation (byte order, like SQLite's ``BINARY``), so
  ``ORDER BY`` and keyset paging give the same order whatever the database's locale.
- Timestamps stay ISO 8601 text, as in SQLite; leases are stamped and compared with the
  *server's* clock, so hosts with skewed clocks agree on when a lease expires.
- Lease changes of one sync are serialized with a transaction-scoped advisory lock
  (``pg_advisory_xact_lock``): two daemons acquiring at the same instant get one winner.
  ``migrate()`` takes another advisory lock, so processes starting together migrate once.
- One connection for the run's work and a second one for the lease (acquire, renew,
  release), each behind its own lock: the renewal thread never waits behind a long write
  transaction of the run, and no two threads share a transaction.

The password comes only from the environment variable named by ``[state] password_env``
(or libpq's own ``PGPASSWORD``/``.pgpass``); messages show the URL without it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crmseg.errors import ConfigError, FatalError
from crmseg.state.sql import SqlStore
from crmseg.state.store import Lease

if TYPE_CHECKING:
    from crmseg.config import StateConfig

#: Advisory lock class for crmseg (``'crms'``); the second key is 0 for migrations, else the sync's hash.
LOCK_CLASS = 0x63726D73
MIGRATE_KEY = 0

_TEXT = re.compile(r"\bTEXT\b")


def display_url(url: str) -> str:
    """``url`` without a password (in the user part or a ``password=`` parameter), for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://(unparsable url)"
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@lru_cache(maxsize=512)
def to_pyformat(sql: str) -> str:
    """Portable SQL with ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _reason(exc: BaseException, password: str | None) -> str:
    """A driver error as one line, with the password (should libpq ever echo it) masked."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(password, "***") if password else text


class PostgresStore(SqlStore):
    """A SqlStore over psycopg 3 (autocommit connections; explicit transactions in ``_tx``)."""

    dialect: ClassVar[Mapping[str, str]] = {
        "serial": "BIGSERIAL PRIMARY KEY",
        "big": "BIGINT",
        "real": "DOUBLE PRECISION",
    }

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        password_env: str | None = None,
        migrate: bool = True,
        connect_timeout: int = 10,
    ) -> None:
        super().__init__()
        try:
            import psycopg  # noqa: F401 - checked here so a missing driver is a clear message
        except ImportError:  # pragma: no cover - a dependency of crmseg
            raise ConfigError(
                f"{display_url(url)}: the PostgreSQL state store needs psycopg 3 (pip install 'psycopg[binary]')"
            ) from None
        self.url = url
        self.where = display_url(url)
        self._password = password
        self._password_env = password_env
        self._timeout = connect_timeout
        self._lock = threading.RLock()
        self._lease_lock = threading.RLock()
        self._local = threading.local()
        self._lease_conn: Any = None
        self._closed = False
        self._conn = self._connect()
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self.close()
                raise

    @classmethod
    def from_config(cls, state_cfg: StateConfig, *, migrate: bool = True) -> PostgresStore:
        """The store at ``[state] url``; the password from the variable named by ``password_env``."""
        if not state_cfg.url:
            raise ConfigError("[state] url is not set")
        password = os.environ.get(state_cfg.password_env) or None
        return cls(state_cfg.url, password=password, password_env=state_cfg.password_env, migrate=migrate)

    # ------------------------------------------------------------ connections
    def _connect(self) -> Any:
        """A new autocommit connection; ConfigError (URL without password) when it fails."""
        import psycopg

        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": self._timeout, "application_name": "crmseg"}
        if self._password is not None:
            kwargs["password"] = self._password
        try:
            return psycopg.connect(self.url, **kwargs)
        except psycopg.Error as exc:
            reason = _reason(exc, self._password)
            hint = ""
            if self._password is None and self._password_env and "password" in reason.lower():
                hint = f" (is {self._password_env} set?)"
            raise ConfigError(f"{self.where}: cannot connect to the PostgreSQL state store: {reason}{hint}") from None
        except Exception as exc:
            raise ConfigError(
                f"{self.where}: cannot connect to the PostgreSQL state store: {_reason(exc, self._password)}"
            ) from None

    @contextmanager
    def _lease_side(self) -> Iterator[None]:
        """Route this thread's store calls to the lease connection for the block."""
        before = getattr(self._local, "lease", False)
        self._local.lease = True
        try:
            yield
        finally:
            self._local.lease = before

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """This thread's connection (the lease one inside ``_lease_side``), held under its lock.

        A connection found closed (server restart, network loss) is opened again; a call that
        fails because the server went away raises FatalError."""
        import psycopg

        if self._closed:
            raise ConfigError(f"{self.where}: the state store is closed")
        try:
            if getattr(self._local, "lease", False):
                with self._lease_lock:
                    if self._lease_conn is None or self._lease_conn.closed:
                        self._lease_conn = self._connect()
                    yield self._lease_conn
                return
            with self._lock:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                yield self._conn
        except psycopg.OperationalError as exc:  # the server went away mid-call: no traceback, the URL named
            raise FatalError(
                f"{self.where}: the PostgreSQL state store failed: {_reason(exc, self._password)}"
            ) from exc

    # ------------------------------------------------------------ dialect hooks
    def _sql(self, sql: str) -> str:
        return to_pyformat(sql)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection() as conn, conn.cursor() as cur:
            cur.execute(self._sql(sql), tuple(args))
            return list(cur.fetchall())

    def _stream(self, sql: str, args: Sequence[Any] = (), size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
        with self._connection() as conn, conn.cursor() as cur:
            cur.execute(self._sql(sql), tuple(args))
            while rows := cur.fetchmany(size):
                yield list(rows)

    def _insert_id(self, cur: Any, sql: str, args: Sequence[Any]) -> int:
        return int(self._exec(cur, sql + " RETURNING id", args).fetchone()[0])

    def _ddl(self, stmt: str) -> str:
        return _TEXT.sub('TEXT COLLATE "C"', super()._ddl(stmt))

    def _lock_lease(self, cur: Any, sync: str) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, sync))

    def _clock(self, cur: Any) -> datetime:
        cur.execute("SELECT clock_timestamp()")
        return cur.fetchone()[0].astimezone(UTC)

    # ------------------------------------------------------------ schema
    def schema_version(self) -> int:
        if self._query("SELECT to_regclass('meta')")[0][0] is None:
            return 0
        rows = self._query("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0][0]) if rows else 0

    def migrate(self) -> int:
        """Create or upgrade the schema (one transaction, under an advisory lock); ConfigError when
        the role may not (e.g. no CREATE privilege on the schema)."""
        import psycopg

        try:
            return super().migrate()
        except psycopg.Error as exc:
            raise ConfigError(
                f"{self.where}: cannot create or upgrade the state schema: {_reason(exc, self._password)}"
            ) from None

    def _locked_version(self, cur: Any) -> int:
        cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, MIGRATE_KEY))
        return super()._locked_version(cur)

    # ------------------------------------------------------------ leases (on their own connection)
    def acquire_lease(
        self, sync: str, holder: str, host: str, pid: int, lease_s: float, take_over: bool = False
    ) -> Lease | None:
        with self._lease_side():
            return super().acquire_lease(sync, holder, host, pid, lease_s, take_over)

    def renew_lease(self, sync: str, holder: str, lease_s: float) -> bool:
        with self._lease_side():
            return super().renew_lease(sync, holder, lease_s)

    def release_lease(self, sync: str, holder: str) -> None:
        with self._lease_side():
            super().release_lease(sync, holder)

    def lease(self, sync: str) -> Lease | None:
        with self._lease_side():
            return super().lease(sync)

    def close(self) -> None:
        self._closed = True
        with self._lease_lock:
            if self._lease_conn is not None:
                self._lease_conn.close()
                self._lease_conn = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
