"""A throwaway PostgreSQL primary and its streaming replica, started from the server binaries
on this machine (initdb, pg_ctl, pg_basebackup -R) in a temporary directory.

The clusters run as a non-root user: as the caller when it is not root, otherwise as the
``postgres`` system account (initdb refuses root), which then owns the directory. They
listen on 127.0.0.1 on free ports and trust local connections; nothing is kept after
:meth:`StreamingPair.stop`."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

SYSTEM_USER = "postgres"
# Fast and disposable: these clusters hold test data only.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "replica",
    "max_wal_senders": "4",
    "hot_standby": "on",
    "fsync": "off",
    "full_page_writes": "off",
    "wal_receiver_status_interval": "1s",
    "shared_buffers": "16MB",
    "max_connections": "60",
}


class ClusterUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or a user to run them as) are missing."""


def server_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, pg_ctl and
    pg_basebackup (OKPAY_TEST_PG_BIN overrides)."""
    override = os.environ.get("OKPAY_TEST_PG_BIN")
    candidates = [Path(override)] if override else []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = [p for p in root.iterdir() if p.name.isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: -int(p.name))]
    for path in candidates:
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "pg_basebackup")):
            return path
    raise ClusterUnavailable("no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """One running server: its data directory and port."""

    data: Path
    port: int

    def url(self) -> str:
        return f"postgresql+psycopg://{SYSTEM_USER}@127.0.0.1:{self.port}/postgres"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user=SYSTEM_USER, dbname="postgres", autocommit=True
        )


@dataclass
class StreamingPair:
    """A primary and a replica streaming from it (``pg_basebackup -R``)."""

    root: Path
    bin_dir: Path
    run_as: list[str]
    primary: Cluster = field(init=False)
    replica: Cluster = field(init=False)

    @classmethod
    def start(cls) -> StreamingPair:
        bin_dir = server_bin_dir()
        run_as: list[str] = []
        root = Path(tempfile.mkdtemp(prefix="okpay-replica-"))
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam(SYSTEM_USER)
            except KeyError as exc:
                shutil.rmtree(root)
                raise ClusterUnavailable(f"running as root and no {SYSTEM_USER} user") from exc
            os.chown(root, account.pw_uid, account.pw_gid)
            run_as = ["runuser", "-u", SYSTEM_USER, "--"]
        pair = cls(root, bin_dir, run_as)
        try:
            pair._start()
        except BaseException:
            pair.stop()
            raise
        return pair

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bin_dir / tool), *args],
            check=True,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )

    def _start(self) -> None:
        self.primary = Cluster(self.root / "primary", _free_port())
        self._run(
            "initdb", "-D", str(self.primary.data), "-U", SYSTEM_USER, "-A", "trust",
            "-E", "UTF8", "--no-sync", "--locale=C",
        )  # fmt: skip
        with (self.primary.data / "postgresql.conf").open("a") as conf:
            for name, value in {**SERVER_SETTINGS, "port": str(self.primary.port)}.items():
                conf.write(f"{name} = {value}\n")
            conf.write(f"unix_socket_directories = '{self.root}'\n")
        self.pg_ctl(self.primary, "start")
        self.replica = Cluster(self.root / "replica", _free_port())
        self._run(
            "pg_basebackup", "-D", str(self.replica.data), "-R", "-X", "stream",
            "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", SYSTEM_USER,
            "--no-sync", "--checkpoint=fast",
        )  # fmt: skip
        with (self.replica.data / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica.port}\n")
        self.pg_ctl(self.replica, "start")
        self.wait_streaming()

    def pg_ctl(self, cluster: Cluster, action: str) -> None:
        """``pg_ctl start|stop|restart`` on one cluster, waiting until it is done."""
        args = ["-D", str(cluster.data), "-w", "-t", "30"]
        if action in ("start", "restart"):
            args += ["-l", str(cluster.data.parent / f"{cluster.data.name}.log")]
        if action in ("stop", "restart"):
            args += ["-m", "fast"]
        self._run("pg_ctl", action, *args)

    def wait_streaming(self, seconds: float = 20.0) -> None:
        """Until the replica has replayed everything the primary has written."""
        deadline = time.monotonic() + seconds
        with self.primary.connect() as primary:
            target = primary.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
        while True:
            try:
                with self.replica.connect() as replica:
                    row = replica.execute(
                        "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn,"
                        " EXISTS (SELECT 1 FROM pg_stat_wal_receiver)",
                        (str(target[0]) if target else "0/0",),
                    ).fetchone()
                if row and row[0] and row[1]:
                    return
            except psycopg.OperationalError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the replica did not catch up with the primary")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop both servers and delete their files."""
        for name in ("replica", "primary"):
            cluster = getattr(self, name, None)
            if cluster is not None and (cluster.data / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.SubprocessError):
                    self._run("pg_ctl", "stop", "-D", str(cluster.data), "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)
