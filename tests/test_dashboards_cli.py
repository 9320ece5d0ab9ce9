"""``alphapulse dashboards`` as a process: a bad port or config is one line and exit 2 before
anything starts; the real server prints both URLs with a fresh token, serves the dashboards
under Voila with the collector running, and SIGTERM stops it, its kernel and the collector
within seconds, leaving no process behind."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from alphapulse.dashboards.serve import apps_dir
from tests.browser.lab_server import descendants, free_port, proc, wait_gone
from tests.dashboards_server import DashboardsServer, command, environment, start_dashboards

OUTPUT = Path(__file__).resolve().parent / "output"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args, "--no-browser", "--lake", str(tmp_path / "lake")),
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(tmp_path),
    )


def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    done = run(tmp_path, "--port", "70000")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "alphapulse dashboards: error: argument --port: port 70000 is out of range (0-65535) "
        "(see alphapulse dashboards --help)"
    ]
    assert not (tmp_path / "lake").exists()  # nothing started


def test_a_port_in_use_is_named_and_nothing_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(tmp_path, "--port", str(port))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        f"alphapulse dashboards: error: port {port} is in use on 127.0.0.1 (another server?): "
        "choose one with --port"
    )
    assert done.stdout == "" and not (tmp_path / "lake").exists()


def test_a_bad_config_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text("[venues.kraken]\nsymbols = 'BTC/USD'\n")  # a string, not a list
    done = run(tmp_path, "--port", str(free_port()), "--config", str(config))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("alphapulse dashboards: error: ") and "symbols" in done.stderr


def test_the_notebooks_are_the_checkouts() -> None:
    assert apps_dir() == Path(__file__).resolve().parents[1] / "voila_apps"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DashboardsServer]:
    running = start_dashboards(tmp_path, log=OUTPUT / "dashboards-cli.log")
    yield running
    running.stop()


def test_it_serves_both_dashboards_and_sigterm_stops_everything(server: DashboardsServer) -> None:
    token = server.token
    assert len(token) == 48 and all(url.endswith(f"?token={token}") for url in server.urls.values())
    assert server.urls["monitor"].startswith(server.base + "voila/render/monitor.ipynb")
    # Voila runs the notebook in a kernel and answers its page: the dashboard, not its code.
    with urllib.request.urlopen(server.urls["monitor"], timeout=90) as response:
        html = response.read().decode()
    assert "application/vnd.jupyter.widget-view+json" in html  # the dashboard's widget
    cells = re.findall(r'class="(jp-Cell jp-CodeCell[^"]*)"', html)
    assert len(cells) == 2 and all("jp-mod-noInput" in c for c in cells), cells  # no code
    assert 'class="jp-InputArea' not in html and "monitor(lake=lake" not in html  # not shown
    status = server.api("alphapulse/api/status")
    collector = proc(status["supervisor"]["pid"])
    family = descendants(server.process.pid)
    assert collector in family and len(family) >= 2, family  # the collector and the kernel

    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0, server.log_tail()
    took = time.monotonic() - signalled
    assert wait_gone(family, 5.0) == [], f"left running: {wait_gone(family, 0)}"
    assert took < 10, f"{took:.1f} s to stop\n{server.log_tail()}"
    assert "did not stop" not in server.log.read_text(), server.log_tail()  # not SIGKILLed
