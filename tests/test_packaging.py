"""The wheel a user installs: it carries the compiled core, the widgets' bundle with its
licence, and the config file that enables the server extension (no Node, no manual step)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

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
