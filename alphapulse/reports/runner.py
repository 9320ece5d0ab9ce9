"""Run one report into its archive: ``data/reports/NAME/<run id>/``.

The archive holds the executed notebook (``NAME.ipynb``, parameters injected by papermill),
its HTML rendering without code (``NAME.html``) and ``run.json`` (parameters, status,
timings, error). papermill runs in a child process of its own (``execute``), so that a
timeout or a cancel stops it and its kernel whatever the notebook is doing; a stopped or
failed run keeps the notebook as far as it got, and its HTML.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from alphapulse.parentdeath import die_with_parent
from alphapulse.reports.catalog import ReportError, describe, find_report

STATUSES = ("succeeded", "failed", "timed_out", "cancelled")
#: How often a running report is checked for its deadline and a cancel request.
POLL_SECONDS = 0.2
_RELATIVE_DAY = re.compile(r"^@(?:(yesterday)|today(?:-(\d{1,4}))?)$")
#: Between SIGTERM and SIGKILL for a run being stopped.
KILL_GRACE_SECONDS = 2.0


@dataclass(frozen=True)
class ReportRun:
    run_id: str
    report: str
    params: dict[str, Any]
    status: str
    archive: Path
    notebook: Path
    html: Path | None
    error: str | None
    traceback: str | None
    seconds: float
    papermill_seconds: float | None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("archive", "notebook", "html"):
            data[key] = str(data[key]) if data[key] is not None else None
        return data


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time, unique: ``20261201T070000Z-3f9a2c``."""
    now = now or datetime.now(UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def archive_dir(data_dir: Path, report: str, run_id: str) -> Path:
    return data_dir / "reports" / report / run_id


def check_parameters(name: str, declared: dict[str, Any], params: dict[str, Any]) -> None:
    """A parameter the notebook does not declare is a typo, not something to inject."""
    unknown = sorted(set(params) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise ReportError(
            f"report {name!r} has no parameter {', '.join(map(repr, unknown))} "
            f"(its parameters: {known})"
        )
    try:
        orjson.dumps(params)
    except TypeError as e:
        raise ReportError(f"report {name!r}: parameters must be JSON values ({e})") from None


def resolve_dates(params: dict[str, Any], as_of: datetime) -> dict[str, Any]:
    """``@today``, ``@yesterday`` and ``@today-N`` as the UTC day ("YYYY-MM-DD") they name
    relative to ``as_of`` (a scheduled run's tick): a daily report scheduled at 07:00 with
    ``-p date @yesterday`` reports the whole day before, whenever it actually runs."""
    resolved = dict(params)
    for name, value in params.items():
        if not isinstance(value, str) or not value.startswith("@"):
            continue
        match = _RELATIVE_DAY.match(value)
        if match is None:
            raise ReportError(f"parameter {name}: {value!r} is not @today, @yesterday or @today-N")
        days = 1 if match[1] == "yesterday" else int(match[2] or 0)
        resolved[name] = (as_of.astimezone(UTC).date() - timedelta(days=days)).isoformat()
    return resolved


def validate_request(name: str, params: dict[str, Any]) -> Path:
    """The notebook of report ``name``, if it exists and declares every one of ``params``
    (ReportError otherwise): what a schedule or a run is checked with before it is kept."""
    source = find_report(name)
    check_parameters(name, describe(source).parameters, params)
    resolve_dates(params, datetime.now(UTC))  # a bad @day is refused now, not at its tick
    return source


def run_report(
    name: str,
    params: dict[str, Any],
    *,
    data_dir: Path,
    lake: Path | None = None,
    timeout: float | None = 3600.0,
    run_id: str | None = None,
    cancelled: Callable[[], bool] | None = None,
    on_start: Callable[[int], None] | None = None,
    as_of: datetime | None = None,
) -> ReportRun:
    """Execute report ``name`` with ``params`` and wait for it (see the module's doc).

    ``lake`` is passed as the parameter ``lake`` when the notebook declares one and
    ``params`` do not set it. ``cancelled`` is asked every 0.2 s (True stops the run);
    ``on_start`` is given the child's pid. Relative days (``@yesterday``) are resolved
    against ``as_of`` (default now). ReportError before anything runs: an unknown report
    or parameter.
    """
    source = validate_request(name, params)
    info = describe(source)
    injected = resolve_dates(params, as_of or datetime.now(UTC))
    if lake is not None and "lake" in info.parameters and "lake" not in injected:
        injected["lake"] = str(lake.resolve())
    run_id = run_id or new_run_id()
    archive = archive_dir(data_dir, name, run_id)
    archive.mkdir(parents=True, exist_ok=False)
    notebook, html = archive / f"{name}.ipynb", archive / f"{name}.html"
    started_at = datetime.now(UTC)
    record: dict[str, Any] = {
        "run_id": run_id,
        "report": name,
        "source": str(source),
        "params": injected,
        "status": "running",
        "started_at": started_at.isoformat(),
    }
    _write_json(archive / "run.json", record)

    started = time.perf_counter()
    result, stopped = _run_child(source, notebook, html, injected, timeout, cancelled, on_start)
    if stopped is not None:
        result = {
            "status": stopped,
            "error": (
                f"stopped at its timeout of {timeout:g} s"
                if stopped == "timed_out"
                else "cancelled"
            ),
            "traceback": None,
            "papermill_seconds": None,
        }
        if notebook.is_file():  # what it did before it was stopped
            _render_partial(notebook, html)
    seconds = time.perf_counter() - started
    run = ReportRun(
        run_id=run_id,
        report=name,
        params=injected,
        status=result["status"],
        archive=archive,
        notebook=notebook,
        html=html if html.is_file() else None,
        error=result["error"],
        traceback=result["traceback"],
        seconds=seconds,
        papermill_seconds=result["papermill_seconds"],
    )
    record.update(
        status=run.status,
        finished_at=datetime.now(UTC).isoformat(),
        seconds=round(seconds, 3),
        papermill_seconds=(
            round(run.papermill_seconds, 3) if run.papermill_seconds is not None else None
        ),
        error=run.error,
        traceback=run.traceback,
    )
    _write_json(archive / "run.json", record)
    return run


def _run_child(
    source: Path,
    notebook: Path,
    html: Path,
    params: dict[str, Any],
    timeout: float | None,
    cancelled: Callable[[], bool] | None,
    on_start: Callable[[int], None] | None,
) -> tuple[dict[str, Any], str | None]:
    """The child's result, or the reason it was stopped (``timed_out``, ``cancelled``)."""
    command = [sys.executable, "-m", "alphapulse.reports.execute", str(source), str(notebook)]
    # Files, not pipes: a child blocked on a full pipe while this waits would look hung.
    log_path = notebook.with_name("papermill.log")
    with tempfile.TemporaryFile() as out, log_path.open("wb") as log:
        child = subprocess.Popen(
            [*command, str(html)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=log,
            start_new_session=True,  # its own process group: the kernel is stopped with it
            preexec_fn=die_with_parent,  # a killed scheduler leaves no report running
        )
        try:
            stopped = _wait(child, params, timeout, cancelled, on_start)
        except BaseException:  # the caller itself is being stopped: leave nothing running
            _stop(child)
            raise
        if stopped is not None:
            return {}, stopped
        out.seek(0)
        answer = out.read()
    try:
        result: dict[str, Any] = orjson.loads(answer.splitlines()[-1])
    except (IndexError, orjson.JSONDecodeError):
        lines = log_path.read_text(errors="replace").strip().splitlines()
        return {
            "status": "failed",
            "error": f"the report's process ended with code {child.returncode}"
            + (f": {lines[-1]}" if lines else ""),
            "traceback": "\n".join(lines[-40:]) or None,
            "papermill_seconds": None,
        }, None
    return result, None


def _wait(
    child: subprocess.Popen[bytes],
    params: dict[str, Any],
    timeout: float | None,
    cancelled: Callable[[], bool] | None,
    on_start: Callable[[int], None] | None,
) -> str | None:
    """Wait for ``child``; stop it at the deadline or a cancel and say which."""
    assert child.stdin is not None
    with contextlib.suppress(BrokenPipeError):
        child.stdin.write(orjson.dumps(params))
    child.stdin.close()
    if on_start is not None:
        on_start(child.pid)
    deadline = time.monotonic() + timeout if timeout is not None else None
    while child.poll() is None:
        stopped = None
        if deadline is not None and time.monotonic() >= deadline:
            stopped = "timed_out"
        elif cancelled is not None and cancelled():
            stopped = "cancelled"
        if stopped is not None:
            _stop(child)
            return stopped
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(POLL_SECONDS)
    return None


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the child's whole group (papermill and its kernel), then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(KILL_GRACE_SECONDS)
    with contextlib.suppress(ProcessLookupError):  # the group can outlive its leader
        os.killpg(child.pid, signal.SIGKILL)
    child.wait()


def _render_partial(notebook: Path, html: Path) -> None:
    from alphapulse.reports.execute import render_html

    # a notebook cut short mid-write has no HTML: the run's error already says why
    with contextlib.suppress(Exception):
        render_html(notebook, html)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    partial.replace(path)
