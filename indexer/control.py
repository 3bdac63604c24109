"""One reindex at a time, and what the last one did: shared by the CLI and the API's admin endpoint.

Beside the index (``<index_dir>/<collection>.reindex.*``):

    .lock   an OS file lock (``fcntl.flock``) held by the running reindex; the file names its pid and start time.
            The kernel drops the lock when its holder dies, even by SIGKILL, so a killed run never blocks the next.
    .json   the status of the last or current run, written by the run itself (atomically: temp file + rename).
    .log    stderr of a run the API launched.

The API takes the lock *before* it starts ``python -m indexer`` and hands the locked descriptor to the child
(``LIRA_REINDEX_LOCK_FD``), so two admin requests, or an admin request and a CLI run, can never both start.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.settings import Settings

LOCK_FD_ENV = "LIRA_REINDEX_LOCK_FD"
LAUNCHED_BY_ENV = "LIRA_REINDEX_LAUNCHED_BY"


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ReindexPaths:
    lock: Path
    status: Path
    log: Path

    @classmethod
    def of(cls, settings: Settings) -> ReindexPaths:
        base = settings.index_dir / f"{settings.collection}.reindex"
        return cls(Path(f"{base}.lock"), Path(f"{base}.json"), Path(f"{base}.log"))


class ReindexBusy(RuntimeError):
    """Another reindex holds the lock; the message names its pid and start time."""

    def __init__(self, holder: dict) -> None:
        self.holder = holder
        pid = holder.get("pid", "unknown")
        started = holder.get("started", "at an unknown time")
        super().__init__(
            f"a reindex is already running (pid {pid}, started {started}); wait for it to finish "
            "(GET /v1/admin/reindex shows its progress)"
        )


class ReindexLock:
    """An exclusive, non-blocking ``flock`` on the lock file; ``holder()`` reads who has it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def fd(self) -> int:
        if self._fd is None:
            raise RuntimeError("the reindex lock is not held")
        return self._fd

    def acquire(self, *, retry_s: float = 0.5, **info: object) -> None:
        """Take the lock or raise ReindexBusy. Retries briefly: a status probe holds it for an instant."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + retry_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    holder = read_holder(self.path)
                    os.close(fd)
                    raise ReindexBusy(holder) from None
                time.sleep(0.05)
        self._fd = fd
        self.describe(**info)

    def adopt(self, fd: int, **info: object) -> None:
        """Take over a descriptor a parent locked for us (the API launching the indexer)."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # same open file: succeeds iff the parent's lock is ours
        except OSError as exc:
            raise RuntimeError(f"{LOCK_FD_ENV}={fd} is not a reindex lock this process holds ({exc})") from exc
        self._fd = fd
        self.describe(**info)

    def describe(self, **info: object) -> None:
        """Write who holds the lock into the lock file (read by ReindexBusy's message)."""
        data = json.dumps({"pid": os.getpid(), "started": utc_now(), **info}).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def close_without_unlock(self) -> None:
        """Drop this process's descriptor only: a child that inherited it keeps the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ReindexLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def lock_is_held(path: Path) -> bool:
    """True while some process holds the lock. A shared probe: it never blocks a running reindex."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False


def write_status(path: Path, status: dict) -> None:
    """Atomic: a reader sees the previous status or this one, never a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(status, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def read_status(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"state": "unknown", "error": f"cannot read {path}: {exc}"}


class StatusWriter:
    """The running job's status file: started, progress (at most once a second), then the outcome."""

    def __init__(self, path: Path, **info: object) -> None:
        self.path = Path(path)
        self.status: dict = {
            "state": "running",
            "pid": os.getpid(),
            "started": utc_now(),
            "finished": None,
            "launched_by": os.environ.get(LAUNCHED_BY_ENV, "cli"),
            **info,
        }
        self._last = 0.0
        write_status(self.path, self.status)

    def progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last >= 1.0 or done >= total:
            self._last = now
            self.status["progress"] = {"done": done, "total": total}
            write_status(self.path, self.status)

    def finish(self, state: str, **outcome: object) -> None:
        self.status.update(state=state, finished=utc_now(), **outcome)
        write_status(self.path, self.status)
