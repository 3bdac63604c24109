"""Starts ``python -m indexer reindex`` for the admin endpoint and reports on the last or current run.

The API never writes the index itself and never builds HNSW in its own process (Edge's optimize() holds the GIL for
the whole build): it launches the indexer as a child process with the API's own store and model settings, and the
child switches the serving version exactly as a CLI run would. The reindex lock is taken here, before the child
starts, and handed to it, so a second request is refused at once with 409 and the pid of the running one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from core.settings import Settings
from indexer.control import (
    LAUNCHED_BY_ENV,
    LOCK_FD_ENV,
    ReindexLock,
    ReindexPaths,
    lock_is_held,
    read_status,
    utc_now,
    write_status,
)

LOG_TAIL_LINES = 20


@dataclass
class _Child:
    process: subprocess.Popen
    exit_code: int | None = None


def _env_names(name: str, field: FieldInfo) -> list[str]:
    """The environment variables a setting is read from, the one it prefers first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"LIRA_{name.upper()}"]


def _env_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return str(value)


def indexer_environment(settings: Settings) -> dict[str, str]:
    """The child's environment: this process's, with every setting the API actually runs with written over it (tests
    and embedders build Settings in code, which the environment alone would not reproduce). A setting that is None
    here is removed, so the child falls back to the same default."""
    env = dict(os.environ)
    for name, field in type(settings).model_fields.items():
        names = _env_names(name, field)
        for var in names:
            env.pop(var, None)
        value = getattr(settings, name)
        if value is not None:
            env[names[0]] = _env_value(value)
    return env


class Reindexer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.paths = ReindexPaths.of(settings)
        self._children: dict[int, _Child] = {}
        self._lock = threading.Lock()

    def start(self, *, full: bool) -> dict:
        """Launch a reindex or raise ``ReindexBusy``; returns what was started."""
        lock = ReindexLock(self.paths.lock)
        lock.acquire(launched_by="api", full=full)  # raises ReindexBusy, naming the running one
        try:
            command = [
                sys.executable,
                "-m",
                "indexer",
                "reindex",
                "--catalogue",
                str(self.settings.catalogue_path),
                "--model",
                self.settings.model,
                "--no-progress",
            ]
            if full:
                command.append("--full")
            env = {**indexer_environment(self.settings), LOCK_FD_ENV: str(lock.fd), LAUNCHED_BY_ENV: "api"}
            # Until the child writes its own status, this one says a run started (and died, if it never does).
            write_status(
                self.paths.status,
                {
                    "state": "running",
                    "pid": None,
                    "started": utc_now(),
                    "finished": None,
                    "launched_by": "api",
                    "full": full,
                },
            )
            with open(self.paths.log, "wb") as log:
                process = subprocess.Popen(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(lock.fd,),
                    start_new_session=True,
                )
            lock.describe(launched_by="api", full=full, pid=process.pid)
        except BaseException as exc:
            write_status(
                self.paths.status,
                {
                    "state": "failed",
                    "pid": None,
                    "started": utc_now(),
                    "finished": utc_now(),
                    "launched_by": "api",
                    "full": full,
                    "error": f"could not start the indexer: {exc}",
                },
            )
            lock.release()
            raise
        lock.close_without_unlock()  # the child holds it now, until it exits (or is killed)
        child = _Child(process)
        with self._lock:
            self._children[process.pid] = child
        threading.Thread(target=self._reap, args=(child,), name=f"reindex-{process.pid}", daemon=True).start()
        return {
            "pid": process.pid,
            "full": full,
            "catalogue": str(self.settings.catalogue_path),
            "log": str(self.paths.log),
        }

    def _reap(self, child: _Child) -> None:
        """Wait for the child so it never lingers as a zombie, and keep its exit code for status()."""
        child.exit_code = child.process.wait()

    def running(self) -> bool:
        return lock_is_held(self.paths.lock)

    def status(self) -> dict:
        """The last or current run, from the status file the run writes, corrected by what this process knows:
        a run that holds no lock any more but never wrote its outcome was killed or crashed."""
        status = read_status(self.paths.status)
        running = self.running()
        if status is None:
            return {"state": "running" if running else "never_run", "running": running}
        status = {**status, "running": running}
        child = self._children.get(status.get("pid", -1))
        if child is not None and child.exit_code is not None:
            status["exit_code"] = child.exit_code
        if status.get("state") == "running" and not running:
            status["state"] = "died"
            code = status.get("exit_code")
            how = f"exit code {code}" if code is not None else "no outcome recorded"
            status["error"] = (
                f"the reindex stopped before finishing ({how}; killed?); the previous version is "
                "still serving: start it again"
            )
        if status.get("state") in ("failed", "died") and status.get("launched_by") == "api":
            status["log_tail"] = self.log_tail()
        return status

    def log_tail(self) -> list[str]:
        try:
            with open(self.paths.log, encoding="utf-8", errors="replace") as fh:
                return [line.rstrip("\n") for line in deque(fh, maxlen=LOG_TAIL_LINES)]
        except OSError:
            return []
