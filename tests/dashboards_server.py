"""A real ``alphapulse dashboards`` process for the tests and the dashboard benchmark.

On a free port, its lake in a temporary directory, Jupyter's config, data and runtime
directories temporary too (what ~/.jupyter holds does not change what the tests see), and
without what a developer's environment would point at their own data. Returns once the
command has printed its URLs and the AlphaPulse API says its collector is running.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from tests.browser.lab_server import free_port, stop_family

_PRIVATE_ENV = ("ALPHAPULSE_DATA", "ALPHAPULSE_APP_DSN", "ALPHAPULSE_REPORTS", "ALPHAPULSE_LAKE")


@dataclass
class DashboardsServer:
    process: subprocess.Popen[bytes]
    urls: dict[str, str]  # monitor, news: as printed, with the token
    lake: Path
    log: Path
    printed: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        parts = urlsplit(self.urls["monitor"])
        return f"{parts.scheme}://{parts.netloc}/"

    @property
    def token(self) -> str:
        return parse_qs(urlsplit(self.urls["monitor"]).query)["token"][0]

    def api(self, path: str, timeout: float = 10) -> Any:
        request = urllib.request.Request(
            self.base + path, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return orjson.loads(response.read())

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        stop_family(self.process, timeout)


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "alphapulse", "dashboards", *args]


def environment(workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(workdir / name.lower())
    return env


def start_dashboards(
    workdir: Path, *, log: Path, rate: float = 200.0, timeout: float = 90.0
) -> DashboardsServer:
    lake = workdir / "lake"
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    args = ["--no-browser", "--port", str(port), "--lake", str(lake), "--rate", f"{rate:g}"]
    with log.open("wb") as err:
        process = subprocess.Popen(
            command(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=environment(workdir),
            cwd=workdir,
        )
    assert process.stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:  # the URLs, then whatever else it prints, without blocking the test
        assert process.stdout is not None
        for raw in process.stdout:
            lines.put(raw.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()
    server = DashboardsServer(process, {}, lake, log)
    deadline = time.monotonic() + timeout
    try:
        while len(server.urls) < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"alphapulse dashboards printed no URLs:\n{server.log_tail()}")
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            server.printed.append(line)
            words = line.split()
            if len(words) == 2 and words[0] in ("monitor", "news"):
                server.urls[words[0]] = words[1]
        state = "no answer"
        while state != "running":
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboards' collector is {state}:\n{server.log_tail()}")
            with contextlib.suppress(OSError):  # not answering yet
                state = server.api("alphapulse/api/status")["supervisor"]["state"]
            time.sleep(0.25)
    except BaseException:
        server.stop()
        raise
    return server
