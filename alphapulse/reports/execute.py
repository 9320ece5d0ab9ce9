"""The child process that runs one report: papermill, then the HTML rendering.

``python -m alphapulse.reports.execute NOTEBOOK OUTPUT HTML`` with the parameters as a JSON
object on stdin; one JSON object on stdout says how it went. It runs in a process (and a
session) of its own so that the runner can stop it, the kernel with it, at its timeout
without anything of it left in the caller: papermill's kernel is a grandchild of the
caller, and a hanging cell does not answer an interrupt.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import orjson

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def render_html(notebook: Path, html: Path) -> None:
    """The executed notebook as a standalone HTML page without its code (nbconvert's
    ``--no-input``), written to a temporary name and renamed into place."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)  # type: ignore[no-untyped-call]
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(node)
    partial = html.with_name(html.name + ".partial")
    partial.write_text(body, encoding="utf-8")
    partial.replace(html)


def _import_nbconvert() -> None:
    with contextlib.suppress(Exception):  # render_html imports it again and says what fails
        import nbconvert.exporters.html  # noqa: F401


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def execute(source: Path, output: Path, html: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    # nbconvert takes a second or two to import: do it while papermill waits on the kernel
    # (which runs the notebook in its own process), not after.
    preload = threading.Thread(target=_import_nbconvert, daemon=True)
    preload.start()

    result: dict[str, Any] = {"status": "succeeded", "error": None, "traceback": None}
    try:  # a notebook written by hand may not say its language: reports are Python
        metadata = orjson.loads(source.read_bytes()).get("metadata", {})
        said = metadata.get("kernelspec", {}).get("language") or metadata.get(
            "language_info", {}
        ).get("name")
    except (OSError, orjson.JSONDecodeError, AttributeError):
        said = None  # papermill says what is wrong with it
    started = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=parameters,
            progress_bar=False,
            language=None if said else "python",
            cwd=str(output.parent),
        )
    except PapermillExecutionError as e:
        result.update(
            status="failed",
            error=strip_ansi(f"{e.ename}: {e.evalue} (cell {e.exec_count})"),
            traceback=strip_ansi("\n".join(e.traceback)),
        )
    except Exception as e:  # the kernel died, the notebook was unreadable, ...
        result.update(
            status="failed",
            error=f"{type(e).__name__}: {e}".splitlines()[0],
            traceback=traceback.format_exc(),
        )
    result["papermill_seconds"] = time.perf_counter() - started
    preload.join()
    if output.is_file():  # a failed run's notebook is rendered too: it shows where it stopped
        try:
            render_html(output, html)
        except Exception as e:
            if result["status"] == "succeeded":
                result.update(
                    status="failed",
                    error=f"rendering the HTML failed: {type(e).__name__}: {e}".splitlines()[0],
                    traceback=traceback.format_exc(),
                )
    return result


def main(argv: list[str]) -> int:
    source, output, html = (Path(arg) for arg in argv)
    parameters = orjson.loads(sys.stdin.buffer.read())
    result = execute(source, output, html, parameters)
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
