"""The collector's life under a real `jupyter server` process: it starts with the server, a
killed collector is restarted with backoff (its death an event, in the server's status and
in the lake), a stopping server stops it within 5 s, and a killed server leaves no orphan."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alphapulse.status import read_status

TOKEN = "lifecycle-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (its parent, the test or init, reaps it).
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def wait(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Server:
    def __init__(self, tmp: Path, *extra: str) -> None:
        self.lake = tmp / "lake"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (tmp / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={self.port}"),
                *("--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}"),
                *(f"--ServerApp.root_dir={tmp}", f"--AlphaPulse.lake={self.lake}"),
                *("--allow-root", "--AlphaPulse.rate=300", *extra),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")},
        )

    def get(self, path: str) -> Any:
        response = httpx.get(
            f"{self.url}/alphapulse/api/{path}",
            headers={"Authorization": f"token {TOKEN}"},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def collector_pid(self) -> int | None:
        try:
            status = self.get("status")
        except httpx.HTTPError:
            return None
        pid = status["supervisor"]["pid"]
        return pid if status["collector"] and status["collector"]["pid"] == pid else None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path)
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        server.log.close()


def test_a_killed_collector_is_restarted_and_its_death_recorded(server: Server) -> None:
    first = wait(server.collector_pid, 90, "the collector child")
    os.kill(first, signal.SIGKILL)
    second = wait(lambda: (p := server.collector_pid()) and p != first and p, 60, "a restart")
    status = server.get("status")
    assert status["supervisor"]["restarts"] == 1
    died = [e for e in status["supervisor"]["events"] if e["kind"] == "collector_died"]
    assert died and died[0]["cause"] == "signal 9" and died[0]["previous_pid"] == first

    def restart_event() -> Any:
        events = server.get("events?since=-1&limit=10000")["events"]
        return [e for e in events if e["kind"] == "collector_restarted"]

    # The successor writes the death into the lake's events (committed or in the live tail).
    recorded = wait(restart_event, 60, "the collector_restarted event")
    assert recorded[0]["detail"]["previous_pid"] == first
    assert recorded[0]["detail"]["cause"] == "signal 9"
    assert alive(second)


def test_the_server_stops_its_collector_within_5_seconds(server: Server) -> None:
    pid = wait(server.collector_pid, 90, "the collector child")
    started = time.monotonic()
    server.proc.send_signal(signal.SIGINT)
    # jupyter_server asks for confirmation on the first SIGINT only on a terminal.
    wait(lambda: not alive(pid), 5, "the collector to exit")
    took = time.monotonic() - started
    assert took < 5.0, f"stop took {took:.1f} s"
    server.proc.wait(30)
    assert read_status(server.lake) is None  # the collector removed its status on the way


def test_a_killed_server_leaves_no_orphan_collector(server: Server) -> None:
    pid = wait(server.collector_pid, 90, "the collector child")
    server.proc.kill()
    server.proc.wait()
    wait(lambda: not alive(pid), 10, "the orphaned collector to exit")


def test_attach_serves_a_collector_started_by_hand(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    collector = subprocess.Popen(
        [sys.executable, "-m", "alphapulse", "collect", "--simulated", "--lake", str(lake)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(tmp_path, "--AlphaPulse.attach=True")
    try:
        wait(lambda: read_status(lake), 60, "the standalone collector")
        pid = wait(server.collector_pid, 60, "the server to attach")
        assert pid == collector.pid  # no child of its own: the one started by hand
        status = server.get("status")["supervisor"]
        assert status["mode"] == "attach" and status["state"] == "attached"
        venues = {c["venue"] for c in server.get("collectors")["collectors"]}
        assert venues == {"kraken", "coinbase", "binance", "alpaca"}
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(30)
        time.sleep(1.0)
        assert collector.poll() is None  # the server's stop leaves a collector it did not start
    finally:
        server.proc.kill()
        server.log.close()
        collector.terminate()
        collector.wait(30)
