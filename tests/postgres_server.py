"""A throwaway Postgres on a 127.0.0.1 port of its own, from Debian's ``postgresql`` package, for
tests that must see what SQLite would let pass (JSON columns, types, ORDER BY of NULLs).

Postgres refuses to run as root: as root, its data directory belongs to ``nobody`` and the
server runs as ``nobody`` (``runuser``). No fsync: the data dies with the test run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_DEADLINE_SECONDS = 120  # generous: a loaded 2-core machine


def postgres_bindir() -> Path | None:
    """Where Debian keeps ``initdb`` and ``postgres`` (the newest major), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server and yield its SQLAlchemy URL (database ``test``, user ``test``)."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("Postgres not found under /usr/lib/postgresql: install postgresql")
    work = Path(tempfile.mkdtemp(prefix="coinstats-pg-", dir="/tmp"))
    data, sockets = work / "data", work / "sockets"
    data.mkdir()
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        for path in (work, data, sockets):
            shutil.chown(path, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = work / "postgres.log"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "test", "-A", "trust",
         "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*as_user, str(bindir / "postgres"), "-D", str(data), "-p", str(port),
             "-h", "127.0.0.1", "-k", str(sockets), "-c", "fsync=off"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    psql = [*as_user, str(bindir / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "test"]
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while subprocess.run([*psql, "-d", "postgres", "-qc", "select 1"],
                             capture_output=True).returncode:  # fmt: skip
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Postgres did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        subprocess.run([*psql, "-d", "postgres", "-qc", "create database test"], check=True,
                       capture_output=True)  # fmt: skip
        yield f"postgresql+psycopg2://test@127.0.0.1:{port}/test"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)
