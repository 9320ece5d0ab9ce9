"""The wheel a user installs: it carries the compiled core, the widgets' bundle with its
licence, the config file that enables the server extension (no Node, no manual step) and
the app database's migrations."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "alphapulse" / "widgets" / "static" / "charts.js"
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/alphapulse.json"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    if not BUNDLE.exists():
        pytest.skip("the widgets' bundle is not built (make widgets)")
    out = tmp_path_factory.mktemp("wheel")
    # Reuses `make build`'s compiled core (same profile and features): seconds, not minutes.
    subprocess.run(
        [sys.executable, "-m", "maturin", "build", "--release", "--quiet", "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=900,
    )
    (path,) = out.glob("alphapulse-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_the_core_the_widgets_and_the_server(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert any(n.startswith("alphapulse/_core.") and n.endswith(".so") for n in names)
    assert {"alphapulse/py.typed", "alphapulse/_core.pyi"} <= names
    assert {"alphapulse/widgets/static/charts.js", "alphapulse/widgets/static/NOTICE"} <= names
    assert {"alphapulse/server/app.py", "alphapulse/server/routes.py"} <= names
    assert not any(n.startswith(("tests/", "extension/")) for n in names)
    bundle = wheel.read("alphapulse/widgets/static/charts.js")
    assert bundle == BUNDLE.read_bytes() and len(bundle) <= 300_000
    notice = wheel.read("alphapulse/widgets/static/NOTICE").decode()
    assert "lightweight-charts" in notice.lower() and "tradingview" in notice.lower()


def test_the_wheel_enables_the_server_extension(wheel: zipfile.ZipFile) -> None:
    (config,) = [n for n in wheel.namelist() if n.endswith(SERVER_CONFIG)]
    assert config.split("/", 1)[0].endswith(".data")  # installed under the environment's prefix
    enabled = json.loads(wheel.read(config))
    assert enabled == {"ServerApp": {"jpserver_extensions": {"alphapulse.server": True}}}


LABEXTENSION = "share/jupyter/labextensions/@alphapulse/lab/"


def test_the_wheel_ships_the_prebuilt_lab_extension(wheel: zipfile.ZipFile) -> None:
    # Under <name>.data/data/: installed into the environment's share/jupyter, where Lab
    # finds federated extensions; a user needs no Node.
    lab = [n for n in wheel.namelist() if LABEXTENSION in n]
    assert lab and all(n.split("/", 1)[0].endswith(".data") for n in lab)
    files = {n.split(LABEXTENSION, 1)[1] for n in lab}
    assert {"package.json", "install.json", "schemas/@alphapulse/lab/plugin.json"} <= files
    assert "schemas/@alphapulse/lab/sql.json" in files
    assert any(f.startswith("static/remoteEntry.") for f in files)
    size = sum(wheel.getinfo(n).file_size for n in lab if n.endswith(".js"))
    assert size <= 500_000, f"the Lab extension's JavaScript is {size} bytes"
    install = json.loads(wheel.read(next(n for n in lab if n.endswith("install.json"))))
    assert install["packageName"] == "alphapulse"


def test_the_wheel_ships_the_notebook_templates(wheel: zipfile.ZipFile) -> None:
    notebooks = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
    shipped = {
        n.rsplit("/", 1)[1] for n in wheel.namelist() if n.startswith("alphapulse/templates/")
    }
    assert notebooks and notebooks <= shipped


APPDB = ROOT / "alphapulse" / "appdb"


def test_the_wheel_ships_the_app_databases_migrations(
    wheel: zipfile.ZipFile, tmp_path: Path
) -> None:
    # Alembic reads the scripts from the installed package at run time: env.py, the
    # template and every revision must be in the wheel, not only the modules Python imports.
    names = set(wheel.namelist())
    sources = {
        p.relative_to(ROOT).as_posix()
        for p in APPDB.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert (
        {
            "alphapulse/appdb/migrations/env.py",
            "alphapulse/appdb/migrations/script.py.mako",
            "alphapulse/appdb/migrations/versions/rev_0001_schedules_and_runs.py",
            "alphapulse/appdb/migrations/versions/rev_0002_scheduler_state.py",
        }
        <= sources
        <= names
    )
    shipped = [n for n in names if n.startswith("alphapulse/appdb/migrations/")]
    wheel.extractall(tmp_path, members=shipped)
    scripts = ScriptDirectory(str(tmp_path / "alphapulse" / "appdb" / "migrations"))
    assert [s.revision for s in scripts.walk_revisions()] == ["0002", "0001"]


def test_the_wheel_ships_the_dashboards(wheel: zipfile.ZipFile) -> None:
    # `alphapulse dashboards` serves these where there is no voila_apps/ (an installed wheel).
    dashboards = {p.name for p in (ROOT / "voila_apps").glob("*.ipynb")}
    shipped = {
        n.rsplit("/", 1)[1]
        for n in wheel.namelist()
        if n.startswith("alphapulse/dashboards/apps/") and n.endswith(".ipynb")
    }
    assert dashboards == {"monitor.ipynb", "news.ipynb"} and dashboards <= shipped
    assert "alphapulse/dashboards/serve.py" in wheel.namelist()


def test_the_wheel_ships_the_report_notebooks(wheel: zipfile.ZipFile) -> None:
    # Where `alphapulse report` looks in an installed package (reports/catalog.py), apart
    # from the launcher's templates.
    reports = {p.name for p in (ROOT / "notebooks" / "reports").glob("*.ipynb")}
    shipped = {
        n.rsplit("/", 1)[1]
        for n in wheel.namelist()
        if n.startswith("alphapulse/templates/reports/")
    }
    assert {"daily_summary.ipynb", "data_quality.ipynb"} <= reports
    assert shipped == reports


def test_the_lab_extension_and_the_package_have_one_version() -> None:
    import tomllib

    package = json.loads((ROOT / "extension" / "lab" / "package.json").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert package["version"] == project["version"]
