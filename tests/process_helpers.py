"""Helpers for tests that run real `rewards worker` processes: start, kill, poll."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from sqlalchemy import func, select

from rewards.db import db
from rewards.models import Transaction
from tests.conftest import TEST_REDIS_URL

REWARDS = str(Path(sys.executable).with_name("rewards"))


_workers_started = itertools.count()


def worker_env(
    app, redis_url: str = TEST_REDIS_URL, app_name: str = "rewards-test-worker"
) -> dict[str, str]:
    """The environment of a worker process bound to this test run's database and queues;
    its database sessions carry `app_name` (libpq's PGAPPNAME) so `stop` can find them."""
    return {
        **os.environ,
        "PGAPPNAME": app_name,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url,
        "QUEUE_PREFIX": app.config["QUEUE_PREFIX"],
        "JWT_SECRET": "unused-in-workers",
    }


def start_worker(app, *args: str, redis_url: str = TEST_REDIS_URL) -> subprocess.Popen:
    """A `rewards worker` in a process group of its own (see `kill_whole_worker`)."""
    app_name = f"rewards-test-worker-{os.getpid()}-{next(_workers_started)}"
    proc = subprocess.Popen(
        [REWARDS, "worker", *args],
        env=worker_env(app, redis_url, app_name),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if "--burst" in args else subprocess.DEVNULL,
        start_new_session=True,
    )
    proc.pg_app_name = app_name  # type: ignore[attr-defined]
    return proc


def poll(condition: Callable[[], object], timeout: float, what: str) -> float:
    """Wait until `condition()` is true; returns the seconds it took, or fails with `what`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def parent_of(pid: int) -> int | None:
    """The parent pid of a live (not zombie) process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return None if fields[0] == "Z" else int(fields[1])


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def kill_whole_worker(proc: subprocess.Popen) -> int | None:
    """SIGKILL a worker, its scheduler and its work horse, as a crash of its machine would.

    RQ puts the horse in a process group of its own, so SIGKILL to the worker's group
    alone leaves the horse running to finish its chunk. Returns the horse's pid, if any."""
    horses = [pid for pid in children(proc.pid) if os.getpgid(pid) == pid]
    os.killpg(proc.pid, signal.SIGKILL)
    for pid in horses:
        os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)
    for pid in horses:
        poll(lambda pid=pid: parent_of(pid) is None, 10, "the work horse survived SIGKILL")
    return horses[0] if horses else None


def stop(proc: subprocess.Popen) -> None:
    """End a worker this test started, with its process group (idempotent)."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    app_name = getattr(proc, "pg_app_name", None)
    if app_name is not None:
        end_backends(app_name)


def _backends(app_name: str, terminate: bool = False) -> int:
    query = "count(*)" if not terminate else "count(pg_terminate_backend(pid))"
    with db.engine.connect() as conn:
        found = conn.execute(
            db.text(f"SELECT {query} FROM pg_stat_activity WHERE application_name = :name"),
            {"name": app_name},
        ).scalar()
        conn.commit()
    return int(found or 0)


def end_backends(app_name: str) -> None:
    """End the server sessions a killed worker left behind, and wait until they are gone.

    A SIGKILLed client's backend runs on until its statement ends and it next talks to the
    client; one blocked on a lock keeps its transaction's locks meanwhile, and the next test's
    TRUNCATE deadlocked with it (CI: "deadlock detected" tearing down a self-healing test)."""
    _backends(app_name, terminate=True)
    poll(lambda: _backends(app_name) == 0, 30, f"sessions of {app_name} still open")


def count(status: str) -> int:
    """How many transactions have `status`, read afresh."""
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).select_from(Transaction).where(Transaction.status == status)
    )


def lock_waiters() -> int:
    """Backends of the test database waiting for a lock right now."""
    with db.engine.connect() as conn:
        return conn.execute(
            db.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
        ).scalar()
