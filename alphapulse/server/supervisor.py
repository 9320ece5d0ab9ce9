"""The collector as the Jupyter server's supervised child process.

Why a child process and not a task on the server's loop: at 10k frames/s the collector
keeps a core busy (parsing is Rust, but sockets, draining and the lake's commits are Python
and hold the GIL), and a REST request or a kernel message queued behind it would wait. A
child has its own interpreter and GIL; the server talks to it over its control socket
(``alphapulse.control``), so the same API serves an ``alphapulse collect`` started by hand
(``attach``).

Supervision: the child is restarted with exponential backoff (1 s doubling to 30 s, reset
after a minute of good health) whenever it exits without being asked to; each death is a
server log line, an entry in ``events`` (what ``/alphapulse/api/status`` shows) and, through
``--restart-note``, a ``collector_restarted`` event in the lake written by its successor.
The child dies with the server (``PR_SET_PDEATHSIG``), so a killed server leaves no orphan;
a stopping server gives it SIGTERM and ``stop_timeout`` seconds to commit, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import orjson

from alphapulse.control_client import ControlClient, ControlUnavailableError, find_control
from alphapulse.parentdeath import die_with_parent
from alphapulse.status import StatusFileError, read_status

log = logging.getLogger("alphapulse.server")

BACKOFF_START = 1.0
BACKOFF_MAX = 30.0
#: A child that ran this long was healthy: its next restart starts the backoff afresh.
HEALTHY_SECONDS = 60.0
#: Lines of the child's stderr kept to explain a death.
STDERR_LINES = 20


class CollectorSupervisor:
    """Starts, watches and stops the collector child; or attaches to a running collector."""

    def __init__(
        self,
        lake: Path,
        *,
        config_file: str = "",
        simulated: bool = True,
        rate: float = 200.0,
        attach: bool = False,
        stop_timeout: float = 4.0,
    ) -> None:
        self.lake = lake
        self.config_file = config_file
        self.simulated = simulated
        self.rate = rate
        self.attach = attach
        self.stop_timeout = stop_timeout
        #: starting, running, restarting, stopped, attached, detached (nothing to attach to)
        self.state = "stopped"
        self.restarts = 0
        self.events: deque[dict[str, Any]] = deque(maxlen=100)
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self.process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._client: ControlClient | None = None
        self._client_lock = asyncio.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    def command(self, note: dict[str, Any] | None = None) -> list[str]:
        # The server runs the report scheduler itself (AlphaPulse.reports), not its child.
        cmd = [
            sys.executable,
            "-m",
            "alphapulse",
            "collect",
            "--lake",
            str(self.lake),
            "--no-scheduler",
        ]
        if self.config_file:
            cmd += ["--config", self.config_file]
        if self.simulated:
            cmd += ["--simulated", "--rate", str(self.rate)]
        if note is not None:
            cmd += ["--restart-note", orjson.dumps(note).decode()]
        return cmd

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping.clear()
        if self.attach:
            self.state = "attached" if find_control(self.lake) else "detached"
            return
        self._task = asyncio.create_task(self._supervise())

    async def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after ``stop_timeout``) and its watcher."""
        self._stopping.set()
        await self._close_client()
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except TimeoutError:
                log.warning("the collector did not stop in %.0f s: killed", self.stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.state = "stopped"

    def _event(self, kind: str, **detail: Any) -> None:
        self.events.append({"ts": time.time(), "kind": kind, **detail})

    async def _supervise(self) -> None:
        delay = BACKOFF_START
        note: dict[str, Any] | None = None
        while not self._stopping.is_set():
            self.state = "starting" if note is None else "restarting"
            started = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                *self.command(note),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                preexec_fn=die_with_parent,
            )
            self._event("collector_started", pid=self.process.pid)
            watch = asyncio.create_task(self._wait_ready())
            code = await self._read_stderr_until_exit(self.process)
            watch.cancel()
            await self._close_client()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            if ran >= HEALTHY_SECONDS:
                delay = BACKOFF_START
            cause = f"signal {-code}" if code < 0 else f"exit code {code}"
            note = {
                "previous_pid": self.process.pid,
                "cause": cause,
                "ran_s": round(ran, 1),
                "restarts": self.restarts + 1,
                "stderr": list(self.stderr)[-5:],
            }
            self._event("collector_died", **note, restart_in_s=delay)
            log.error("the collector died (%s) after %.1f s; restart in %.0f s", cause, ran, delay)
            self.state = "restarting"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, BACKOFF_MAX)
            self.restarts += 1

    async def _read_stderr_until_exit(self, process: asyncio.subprocess.Process) -> int:
        assert process.stderr is not None
        while True:
            line = await process.stderr.readline()
            if not line:
                break
            text = line.decode(errors="replace").rstrip()
            if " f/s " not in text:  # the status line every second is not news
                self.stderr.append(text)
                log.info("collector: %s", text)
        return await process.wait()

    async def _wait_ready(self) -> None:
        while find_control(self.lake) is None:
            await asyncio.sleep(0.2)
        self.state = "running"

    # --- talking to it -----------------------------------------------------------------------

    async def client(self) -> ControlClient:
        """A connection to the collector's control socket (kept and reused)."""
        async with self._client_lock:
            if self._client is not None and self._client.connected:
                return self._client
            await self._close_client()
            path = find_control(self.lake)
            if path is None:
                raise ControlUnavailableError(f"no collector is running on {self.lake}")
            self._client = await ControlClient(path, timeout=5.0).connect()
            if self.attach:
                self.state = "attached"
            return self._client

    async def call(self, op: str, **args: Any) -> Any:
        client = await self.client()
        return await client.call(op, **args)

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def info(self) -> dict[str, Any]:
        process = self.process
        if self.attach:  # the collector started by hand, as its status file names it
            try:
                status = read_status(self.lake)
            except StatusFileError:
                status = None
            pid = status["pid"] if status is not None else None
        else:
            pid = process.pid if process is not None and process.returncode is None else None
        return {
            "state": self.state,
            "mode": "attach" if self.attach else "child",
            "pid": pid,
            "restarts": self.restarts,
            "lake": str(self.lake),
            "simulated": self.simulated,
            "events": list(self.events),
        }
