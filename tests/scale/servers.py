"""Real Redis and PostgreSQL servers on loopback for the scaled-mode tests: Debian's
redis-server and PostgreSQL, started here in temporary folders and stopped afterwards.

PostgreSQL refuses to run as root, so as root the cluster is initialised and run as the
``postgres`` system user (Debian's package creates it)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing_servers() -> str | None:
    """Why the scaled tests cannot run here, or None."""
    if redis_binary() is None:
        return "redis-server is not installed (apt-get install redis-server)"
    if postgres_bin() is None:
        return "PostgreSQL is not installed (apt-get install postgresql)"
    return None


@dataclass
class RedisServer:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, persist: bool = True) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        binary = redis_binary()
        assert binary is not None
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        args += ["--save", "", "--appendonly", "yes" if persist else "no", "--appendfsync"]
        args += ["always", "--protected-mode", "no", "--loglevel", "warning"]
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        _wait_port(self.port, self.process, "redis-server", 10)

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class PostgresServer:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _databases: int = 0

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *args]
        return args

    def start(self) -> None:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        data = self.folder / "data"
        if not data.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.folder, "postgres", "postgres")
            subprocess.run(
                self._as_owner(
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "--no-sync",
                        "-E",
                        "UTF8",
                        "--locale",
                        "C",
                    ]
                ),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        options = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(data),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        args = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port)]
        for name, value in options.items():
            args += ["-c", f"{name}={value}"]
        with (self.folder / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                self._as_owner(args), stdout=subprocess.DEVNULL, stderr=log
            )
        _wait_port(self.port, self.process, "postgres", 30)
        # The port answers before the server accepts logins; wait for a real one.
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not accept connections within 30 s")
            time.sleep(0.1)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database; its DSN."""
        self._databases += 1
        name = f"test_{os.getpid()}_{self._databases}"
        subprocess.run(
            [
                "psql",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-c",
                f"CREATE DATABASE {name}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return self.dsn(name)

    def stop(self) -> None:
        """A fast shutdown, signalled to the postmaster itself (runuser does not pass it on)."""
        if self.process is not None and self.process.poll() is None:
            pid_file = self.folder / "data" / "postmaster.pid"
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A server in its own folder under the system's temporary folder: pytest's folders are
    private to root, where the ``postgres`` user could not reach them."""
    folder = Path(tempfile.mkdtemp(prefix="imagebot-postgres-"))
    folder.chmod(0o755)
    server = PostgresServer(folder / "cluster")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
