"""A real ``jupyter lab`` process, as ``make run`` starts it, for the browser tests and the
browser benchmark (tests/benchmarks/browser_stream.py).

The server runs in its own process (``python -m jupyterlab``, so that its pid is the server's
and SIGTERM reaches it), on a free port with token auth, with the AlphaPulse extension
starting the collector child on the embedded simulator into a temporary lake. Jupyter's
config, data and runtime directories and Lab's settings and workspaces are temporary too:
what a developer set up in ~/.jupyter does not change what the tests see.
``--LabApp.expose_app_in_browser`` puts Lab's application on ``window.jupyterapp``, the handle
the tests run notebook commands with.

Processes are read from /proc (pid, parent, start time), so that checking for orphans needs
nothing installed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import orjson

#: The live-chart notebook: its file name, heading, and the instrument the tests chart (the
#: one notebooks/04_live_charts.ipynb charts live).
LIVE_NOTEBOOK = "live_chart.ipynb"
LIVE_TITLE = "A live chart"
LIVE_INSTRUMENT = "kraken:BTC/USD"

#: A process by pid and start time (clock ticks since boot): a reused pid is another process.
Proc = tuple[int, int]


@dataclass
class LabServer:
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT/
    token: str
    root: Path  # the server's root_dir: notebooks go here
    lake: Path
    log: Path

    def page(self, path: str) -> str:
        """A URL of the server's that a browser opens (the token logs it in)."""
        return f"{self.url}{path}?token={self.token}"

    def api(self, path: str, *, body: dict[str, Any] | None = None, timeout: float = 10) -> Any:
        """GET (or POST ``body``) an API path with the token; the JSON answer."""
        request = urllib.request.Request(
            self.url + path,
            data=orjson.dumps(body) if body is not None else None,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return orjson.loads(response.read())

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self.api("alphapulse/api/status")
        return status

    def collector_pid(self) -> int | None:
        pid: int | None = self.status()["supervisor"]["pid"]
        return pid

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (what ``kill`` and service managers send), then SIGKILL for the server
        and whatever it left if it did not stop in ``timeout``."""
        stop_family(self.process, timeout)


def stop_family(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to ``process``; SIGKILL to it after ``timeout``, and to any of its
    descendants still there 5 s after it ended."""
    if process.poll() is not None:
        return
    family = descendants(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pid, _ in wait_gone(family, 5.0):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_live_notebook(
    path: Path, instrument: str = LIVE_INSTRUMENT, interval: str = "1s", depth: int | None = None
) -> None:
    """A notebook of a title and one cell that shows a live chart of ``instrument``
    (``depth``: with its book's best bid and ask), for the python3 kernel."""
    book = f", depth={depth}" if depth else ""
    code = (
        "from alphapulse.widgets import CandlestickChart\n\n"
        f'chart = CandlestickChart(title="{instrument} {interval}, live", height=360)\n'
        f'chart.live("{instrument}", interval="{interval}"{book})'
    )
    v4 = nbformat.v4
    nb = v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [
        v4.new_markdown_cell(f"# {LIVE_TITLE}"),  # type: ignore[no-untyped-call]
        v4.new_code_cell(code),  # type: ignore[no-untyped-call]
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)  # type: ignore[no-untyped-call]


#: What a developer's environment may set that would point the server at their own data:
#: the app database and report archive, their own reports. Not passed on (``env`` may).
_PRIVATE_ENV = ("ALPHAPULSE_DATA", "ALPHAPULSE_APP_DSN", "ALPHAPULSE_REPORTS")


def start_lab(
    workdir: Path,
    *,
    log: Path,
    options: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> LabServer:
    """``jupyter lab`` on ``workdir``/root with its lake in ``workdir``/lake (its app database
    and report archive beside it, in ``workdir``); returns once the server answers and its
    collector child is running. ``options``: more ``--Class.trait`` settings
    (``{"AlphaPulse.rate": "3300"}``); ``env``: more environment variables
    (``{"ALPHAPULSE_REPORTS": ...}``)."""
    port, token = free_port(), secrets.token_hex(16)
    root, lake = workdir / "root", workdir / "lake"
    root.mkdir(parents=True, exist_ok=True)
    _quiet_lab(workdir / "lab-settings")
    environ = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    environ.update(PYTHONUNBUFFERED="1", **(env or {}))
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        environ[name] = str(workdir / name.lower())
    settings = {
        "ServerApp.port_retries": "0",
        "ServerApp.root_dir": str(root),
        "IdentityProvider.token": token,
        "AlphaPulse.lake": str(lake),
        "LabApp.expose_app_in_browser": "True",
        "JupyterNotebookApp.expose_app_in_browser": "True",  # Notebook 7's, the same handle
        "LabApp.user_settings_dir": str(workdir / "lab-settings"),
        "LabApp.workspaces_dir": str(workdir / "lab-workspaces"),
        "LabApp.news_url": "None",  # no network; and see _quiet_lab()
        "LabApp.check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        **(options or {}),
    }
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1"]
    command += [f"--port={port}", *(f"--{k}={v}" for k, v in settings.items())]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=environ
        )
    server = LabServer(process, f"http://127.0.0.1:{port}/", token, root, lake, log)
    try:
        _wait_ready(server, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _quiet_lab(settings: Path) -> None:
    """Lab's user settings without its news: its toast asking whether to fetch them (the
    sandbox has no network anyway) would sit over the page's screenshots."""
    path = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"fetchNews": "false"}))


def _wait_ready(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"jupyter lab exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with contextlib.suppress(OSError):  # not listening yet (URLError is an OSError)
            state = server.status()["supervisor"]["state"]
        if state == "running":
            return
        time.sleep(0.25)
    raise TimeoutError(
        f"jupyter lab's collector not running in {timeout:g} s ({state}):\n{server.log_tail()}"
    )


# -- processes, from /proc ------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2 :].split()  # the name may hold spaces and parentheses
    return fields[0], int(fields[1]), int(fields[19])


def proc(pid: int) -> Proc | None:
    stat = _stat(pid)
    return (pid, stat[2]) if stat is not None else None


def alive(p: Proc) -> bool:
    """Whether the process still runs (a zombie has exited: only its exit status is left)."""
    stat = _stat(p[0])
    return stat is not None and stat[2] == p[1] and stat[0] != "Z"


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid`` (children, theirs, ...)."""
    children: dict[int, list[Proc]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append((int(entry.name), stat[2]))
    out: list[Proc] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child[0])
    return out


def wait_gone(procs: list[Proc], timeout: float) -> list[Proc]:
    """Waits up to ``timeout`` seconds for ``procs`` to exit; those still running."""
    deadline = time.monotonic() + timeout
    left = [p for p in procs if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    return left
