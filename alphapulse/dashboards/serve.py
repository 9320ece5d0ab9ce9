"""``alphapulse dashboards``: the monitoring wall and the news screen, served by Voila.

One Jupyter server (jupyter_server's ``ServerApp``, in this process) with two server
extensions and nothing else: Voila's, which renders the dashboard notebooks without their
code (``/voila/render/<name>.ipynb``), and AlphaPulse's, which runs the collector (on the
embedded simulator unless ``--config`` names real venues) and the live stream the charts
read. The server's root is the dashboards' directory, so those two notebooks are all it
serves. It prints both URLs with a fresh token; Ctrl-C or SIGTERM stops it, its kernels and
the collector (which gets ``stop_timeout`` to commit).

Where the notebooks are: ``voila_apps/`` beside the package in a source checkout (what a
developer edits), else the copies the wheel carries in ``alphapulse/dashboards/apps/``
(made by ``make dashboard-apps``, as the templates are).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import Any, Final

from alphapulse.arguments import UsageError, path_argument, port_number, positive_number

PACKAGE: Final = Path(__file__).resolve().parent
#: The copies the wheel carries (``pyproject.toml`` includes them).
PACKAGED: Final = PACKAGE / "apps"
#: The originals, in a source checkout.
CHECKOUT: Final = PACKAGE.parent.parent / "voila_apps"
DASHBOARDS: Final = ("monitor", "news")
DEFAULT_PORT: Final = 8866
NOTEBOOK_EXTENSION: Final = "@jupyter-notebook/lab-extension"


def apps_dir() -> Path:
    """The directory holding both dashboard notebooks: the checkout's, else the wheel's."""
    for directory in (CHECKOUT, PACKAGED):
        if all((directory / f"{name}.ipynb").is_file() for name in DASHBOARDS):
            return directory
    raise UsageError(
        f"the dashboards' notebooks are missing (neither {CHECKOUT} nor {PACKAGED} has "
        "monitor.ipynb and news.ipynb): reinstall alphapulse, or run make dashboard-apps"
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"the server's port (default {DEFAULT_PORT}; 0: any free port)",
    )
    p.add_argument("--ip", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--lake", type=path_argument, help="lake directory (default: data/lake or $ALPHAPULSE_LAKE)"
    )
    p.add_argument(
        "--config",
        type=path_argument,
        help="a collector TOML config (its venues, for real; its lake unless --lake)",
    )
    p.add_argument(
        "--simulated",
        action="store_true",
        help="collect from the embedded simulator (the default with no config)",
    )
    p.add_argument(
        "--rate", type=positive_number, default=200.0, help="simulator frames/s per venue"
    )
    p.add_argument("--no-browser", action="store_true", help="do not open the monitor")


def cmd_dashboards(args: argparse.Namespace) -> int:
    from alphapulse.config import CollectorConfig

    root = apps_dir()
    config = CollectorConfig.load(Path(args.config) if args.config else None)  # ConfigError: 2
    lake = (Path(args.lake) if args.lake else config.lake).expanduser().absolute()
    port = args.port or _free_port(args.ip)
    _check_port(args.ip, port)
    token = secrets.token_hex(24)
    settings = {
        "ServerApp.ip": args.ip,
        "ServerApp.port": str(port),
        "ServerApp.port_retries": "0",
        "ServerApp.root_dir": str(root),
        "ServerApp.open_browser": "False",
        "ServerApp.default_url": "/voila/tree",
        "IdentityProvider.token": token,
        "AlphaPulse.lake": str(lake),
        "AlphaPulse.simulated": str(args.simulated or not args.config),
        "AlphaPulse.rate": str(args.rate),
    }
    if args.config:
        settings["AlphaPulse.config_file"] = str(Path(args.config).absolute())
    argv = [f"--{key}={value}" for key, value in settings.items()]
    if os.geteuid() == 0:
        argv.append("--allow-root")  # containers; the server's own check would refuse
    app = _server(argv)
    base = f"http://{'127.0.0.1' if args.ip in ('0.0.0.0', '::', '') else args.ip}:{port}/"
    urls = {name: f"{base}voila/render/{name}.ipynb?token={token}" for name in DASHBOARDS}
    print(
        f"\n    AlphaPulse dashboards ({root}; lake {lake}):\n"
        + "".join(f"      {name:8} {url}\n" for name, url in urls.items())
        + "    Ctrl-C stops the server and the collector.\n",
        flush=True,
    )
    if not args.no_browser:
        app.io_loop.call_later(1.0, _open_browser, urls["monitor"])
    app.start()  # until Ctrl-C or SIGTERM: the extensions stop, the collector with them
    return 0


def _server(argv: list[str]) -> Any:
    from jupyter_server.serverapp import ServerApp

    from alphapulse.server.app import hide_lab_extension_from_voila

    app = ServerApp.instance()
    # These two only: not the extensions found in the Jupyter paths (Lab, Notebook...).
    app.jpserver_extensions = {"alphapulse.server": True, "voila.server_extension": True}
    hide_lab_extension_from_voila(app.config)
    # Notebook 7's Lab extension fails in a Voila page (it needs Lab's document registry:
    # voila-dashboards/voila#1514); this server serves no Notebook, so it is left out too.
    denied = list(app.config.VoilaConfiguration.extension_denylist)
    app.config.VoilaConfiguration.extension_denylist = [*denied, NOTEBOOK_EXTENSION]
    app.initialize(argv=argv, find_extensions=False)
    # jupyter_server asks "Shut down this Jupyter server (y/[n])?" on Ctrl-C at a terminal,
    # and without one lets KeyboardInterrupt end its loop with no cleanup; either way the
    # collector would not be stopped in order. Ctrl-C here stops it like SIGTERM does.
    signal.signal(signal.SIGINT, lambda _sig, _frame: app.stop(from_signal=True))
    return app


def _free_port(ip: str) -> int:
    with socket.socket(_family(ip)) as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def _check_port(ip: str, port: int) -> None:
    """UsageError (exit 2) for a port another server holds, before anything starts."""
    with socket.socket(_family(ip)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as tornado binds
        try:
            s.bind((ip, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"port {port} is in use on {ip} (another server?): choose one with --port"
                ) from None
            if e.errno in (errno.EACCES, errno.EPERM):
                raise UsageError(f"port {port} needs privileges: choose one above 1023") from None
            raise UsageError(f"cannot listen on {ip}:{port}: {e.strerror}") from None


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def _open_browser(url: str) -> None:
    import webbrowser

    with contextlib.suppress(webbrowser.Error):
        webbrowser.open(url)
