"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temp data dir, 127.0.0.1.

``PgServer().start()`` runs ``initdb`` and ``pg_ctl start`` (as the ``postgres`` system user
when the tests run as root: the server refuses to run as root), on a free port, with
SCRAM password authentication over TCP only (no Unix socket). It creates a login role
``crmseg`` with a random password; ``new_database()`` gives every test its own database,
owned by that role, and returns its ``postgresql://crmseg@127.0.0.1:PORT/DB`` URL (no
password in it: the password goes through ``CRMSEG_STATE_PASSWORD`` or ``password=``).
``stop()`` shuts the server down (fast mode) and removes the data dir.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROLE = "crmseg"
BIN_GLOB = "/usr/lib/postgresql/*/bin"
NEEDED = ("initdb", "pg_ctl", "postgres")


def find_bin() -> Path | None:
    """The newest PostgreSQL bin dir with initdb, pg_ctl and postgres (``CRMSEG_PG_BIN`` first)."""
    dirs = [os.environ["CRMSEG_PG_BIN"]] if os.environ.get("CRMSEG_PG_BIN") else []
    dirs += sorted(
        glob.glob(BIN_GLOB), key=lambda d: [int(x) for x in Path(d).parent.name.split(".") if x.isdigit()], reverse=True
    )
    for d in dirs:
        if all(os.access(Path(d) / exe, os.X_OK) for exe in NEEDED):
            return Path(d)
    return None


def unavailable() -> str | None:
    """Why no test server can run here (None when it can)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[dev]')"
    if find_bin() is None:
        return (
            f"PostgreSQL server binaries not found ({BIN_GLOB}/{{initdb,pg_ctl,postgres}}): "
            "install Debian's postgresql package (.ci/run does)"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root but there is no 'postgres' system user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root but runuser is missing (util-linux)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL server in a temp dir; see the module doc."""

    def __init__(self) -> None:
        bin_dir = find_bin()
        if bin_dir is None:
            raise RuntimeError(unavailable() or "no PostgreSQL binaries")
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="crmseg-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.admin_password = secrets.token_hex(16)
        self.password = secrets.token_hex(16)
        self._names = itertools.count(1)
        self._icu = True
        self.running = False

    # ------------------------------------------------------------ process control
    def _as_server_user(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def _run(self, *cmd: str, timeout: float = 120) -> None:
        res = subprocess.run(self._as_server_user(*cmd), capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if res.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd[:2])} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n"
                f"{self.log.read_text() if self.log.exists() else ''}"
            )

    def start(self) -> PgServer:
        pwfile = self.root / "pw"
        pwfile.write_text(self.admin_password + "\n")
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            for p in (self.root, pwfile):
                os.chown(p, pg.pw_uid, pg.pw_gid)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        pwfile.unlink()
        for attempt in range(3):
            self.port = free_port()
            opts = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories='' "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                "-c shared_buffers=32MB"
            )
            try:
                self._run(
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self.running = True
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.password}'")
        return self

    def stop(self) -> None:
        """Shut down (fast: open sessions are ended) and remove the data dir."""
        if self.running:
            try:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
            finally:
                self.running = False
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------ databases
    def admin(self, dbname: str = "postgres") -> Any:
        """An autocommit superuser connection (a context manager)."""
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=self.admin_password,
            dbname=dbname,
            autocommit=True,
            connect_timeout=10,
        )

    def url(self, dbname: str, user: str = ROLE) -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh, empty database owned by ``crmseg``; its URL (no password).

        It sorts text with ICU's en-US rules where available (not byte order), so the store's
        own ``COLLATE "C"`` is what keeps orders identical to SQLite."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            if self._icu:
                try:
                    conn.execute(
                        f"CREATE DATABASE {name} OWNER {ROLE} TEMPLATE template0 LOCALE_PROVIDER icu "
                        "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
                    )
                    return self.url(name)
                except psycopg.Error:
                    self._icu = False
            conn.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        return self.url(name)
