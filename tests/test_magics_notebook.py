"""The magics in an executed notebook: a real kernel (ipykernel, this venv's python, this
tree on its path) runs ``%load_ext alphapulse`` and several magics over a real lake."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.test_magics import COUNTS, write_lake

REPO = Path(__file__).resolve().parents[1]

CELLS = [
    "%load_ext alphapulse\n%config DuckDBMagic.max_rows = 4",
    "%%duckdb -o counts\nselect venue, count(*) as n from trades group by venue order by venue",
    "print(type(counts).__name__, counts.rows())",
    'sym = "ETH-USD"\nevil = "x\'; drop view trades; --"\n'
    "%duckdb select count(*) as n, $evil as text from trades where symbol = $sym",
    "%%duckdb\nselect venue,\n  nope\nfrom trades",
    "%%duckdb --save kraken -q\nselect * from trades where venue = 'kraken'",
    "%duckdb --arrow -o n select count(*) as n from kraken\nprint(n.to_pylist())",
    "%config DuckDBMagic.progress_after = 0.05\n"
    "%duckdb select sum(hash(i)) as h from range(300000000) t(i)",
    "%duckdb select * from trades order by ts_recv",
]


def kernel_manager(kernels: Path, lake: Path) -> KernelManager:
    """A kernel that runs this python with this tree first on its path."""
    spec = kernels / "alphapulse-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "alphapulse test",
                "language": "python",
                "env": {"PYTHONPATH": str(REPO), "ALPHAPULSE_LAKE": str(lake)},
            }
        )
    )
    specs = KernelSpecManager(kernel_dirs=[str(kernels)])
    return KernelManager(kernel_name="alphapulse-test", kernel_spec_manager=specs)


def texts(cell: Any, kind: str) -> str:
    """The cell's outputs of ``kind`` (a MIME type, or 'stdout'/'stderr') as one string."""
    out = []
    for output in cell.outputs:
        if output.output_type == "stream" and output.name == kind:
            out.append(output.text)
        elif output.output_type in ("execute_result", "display_data") and kind in output.data:
            out.append(output.data[kind])
    return "\n".join(out)


def notebook(sources: list[str]) -> Any:
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]  # type: ignore[no-untyped-call]
    return nb


def execute(tmp_path: Path, nb: Any, *, allow_errors: bool) -> None:
    """Run ``nb`` with nbclient in a real kernel over a lake of COUNTS."""
    lake = tmp_path / "lake"
    write_lake(lake, COUNTS)
    client = NotebookClient(
        nb,
        timeout=300,
        allow_errors=allow_errors,
        km=kernel_manager(tmp_path / "kernels", lake),
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()


def test_the_magics_in_an_executed_notebook(tmp_path: Path) -> None:
    # allow_errors: run every cell; the assertions below say which went wrong.
    nb = notebook(CELLS)
    execute(tmp_path, nb, allow_errors=True)
    cells = nb.cells
    counts_html = texts(cells[1], "text/html")
    assert "2 rows x 2 columns" in counts_html, texts(cells[1], "text/plain")
    assert "<td>kraken</td>" in counts_html
    assert all(o.output_type != "error" for c in cells for o in c.outputs)
    assert texts(cells[2], "stdout").strip() == "DataFrame [('coinbase', 400), ('kraken', 600)]"

    bound = texts(cells[3], "text/plain")
    assert "x'; drop view trades; --" in bound and "1 row x 2 columns" in bound

    # The failed cell: the one block on stderr (IPython's UsageError), no traceback.
    error = texts(cells[4], "stderr").splitlines()
    assert error[0].startswith('UsageError: Binder Error: Referenced column "nope" not found')
    assert error[1:] == ["line 2 |   nope", "       |   ^^^^"]

    assert cells[5].outputs == []  # -q: saved and run, nothing shown
    assert texts(cells[6], "stdout").strip() == "[{'n': 600}]"
    # The bar: a percentage where DuckDB tracks progress, the time run where it refuses
    # to (a kernel without ipywidgets, see alphapulse.magics.target).
    bar = texts(cells[7], "stderr")
    assert "duckdb" in bar and ("%|" in bar or "running" in bar)
    assert "1 row x 1 column" in texts(cells[7], "text/plain")

    page = texts(cells[8], "text/html")
    assert "1,000 rows x 14 columns (showing 4)" in page and page.count("<tr>") == 1 + 4 + 1


def test_a_failing_query_fails_the_notebook_run(tmp_path: Path) -> None:
    nb = notebook(
        [
            "%load_ext alphapulse",
            "%%duckdb -o broken\nselect venue,\n  nope\nfrom trades",
            "print(broken)",
        ]
    )
    with pytest.raises(CellExecutionError) as raised:
        execute(tmp_path, nb, allow_errors=False)
    report = str(raised.value)
    # What papermill and notebook tests report: DuckDB's message and the caret line...
    assert 'UsageError: Binder Error: Referenced column "nope" not found' in report
    assert "line 2 |   nope\n       |   ^^^^" in report
    # ... and no traceback frames.
    assert "Traceback" not in report and "File " not in report and "---->" not in report
    assert nb.cells[2].execution_count is None and nb.cells[2].outputs == []  # never ran
