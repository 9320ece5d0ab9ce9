"""``AlphaPulse``: the jupyter_server ExtensionApp and its settings (``c.AlphaPulse.*``).

::

    jupyter lab --AlphaPulse.lake=data/lake                 # simulated collectors (default)
    jupyter lab --AlphaPulse.config_file=collector.toml --AlphaPulse.simulated=False
    jupyter lab --AlphaPulse.attach=True                    # an `alphapulse collect` running

On start it launches the collector as a supervised child (``supervisor``), the stream hub
and the metrics bridge; on stop it stops them, the collector within ``stop_timeout``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, Unicode

from alphapulse.config import data_directory
from alphapulse.server.handlers import ServerState
from alphapulse.server.lakeread import LakeReader
from alphapulse.server.metrics import CollectorMetricsBridge
from alphapulse.server.reports import ReportService
from alphapulse.server.routes import ROUTES
from alphapulse.server.stream import StreamHub
from alphapulse.server.supervisor import CollectorSupervisor


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("alphapulse")
    except PackageNotFoundError:
        return "0+unknown"


#: The JupyterLab extension this package ships (extension/lab).
LAB_EXTENSION = "@alphapulse/lab"
#: The environment variable naming the default lake (``alphapulse.query.default_lake``).
LAKE_ENV = "ALPHAPULSE_LAKE"


def hide_lab_extension_from_voila(config: Any) -> None:
    """Keeps Voila's pages (``/voila/render/...``) from loading the Lab extension: Voila loads
    every installed federated extension, and ours needs Lab's own modules (launcher, status
    bar, editors) that a dashboard page does not have, so it would fail there with a console
    error. Added to the user's own ``VoilaConfiguration.extension_denylist``, not replacing
    it. Voila's server extension reads the config after this one (extensions load in name
    order: alphapulse.server before voila)."""
    voila = config.VoilaConfiguration
    denied = list(voila.get("extension_denylist") or [])
    if LAB_EXTENSION not in denied:
        voila.extension_denylist = [*denied, LAB_EXTENSION]


class AlphaPulse(ExtensionApp):
    name = "alphapulse"
    description = "AlphaPulse collectors, API and live stream in the Jupyter server"
    load_other_extensions = True

    lake = Unicode(
        "", config=True, help="The lake directory (default: $ALPHAPULSE_LAKE or data/lake)."
    )
    config_file = Unicode(
        "", config=True, help="A collector TOML config (see `alphapulse collect --config`)."
    )
    simulated = Bool(
        True, config=True, help="Collect from the embedded simulator (the venues' protocols)."
    )
    autostart = Bool(True, config=True, help="Start the collector with the server.")
    attach = Bool(
        False,
        config=True,
        help="Serve an `alphapulse collect` already running on the lake instead of a child.",
    )
    rate = Float(200.0, config=True, help="Simulator frames per second per venue.")
    stop_timeout = Float(
        4.0, config=True, help="Seconds the collector has to commit on stop before SIGKILL."
    )
    query_timeout = Float(30.0, config=True, help="Seconds a SQL query may run.")
    query_max_rows = Int(100_000, config=True, help="Rows a SQL query returns at most.")
    reports = Bool(
        True, config=True, help="Run the report scheduler (schedules in the app database)."
    )
    report_concurrency = Int(2, config=True, help="Reports running at once, at most.")
    data_dir = Unicode(
        "",
        config=True,
        help="The app database and report archive (default: $ALPHAPULSE_DATA or the lake's "
        "parent).",
    )
    stream_flush = Float(
        0.025,
        config=True,
        help="Seconds between two stream messages to one browser (a chart redraws at most "
        "once a frame whatever it gets).",
    )

    def lake_path(self) -> Path:
        if self.lake:
            return Path(self.lake).expanduser().absolute()
        from alphapulse.query.session import default_lake

        return default_lake().absolute()

    def initialize_settings(self) -> None:
        if self.serverapp is not None:
            hide_lab_extension_from_voila(self.serverapp.config)
        lake = self.lake_path()
        lake.mkdir(parents=True, exist_ok=True)
        # The kernels this server starts inherit its environment: with the lake named there,
        # `alphapulse.connect()` and the Voila dashboards find this server's lake and collector
        # from whatever directory their notebook runs in (restored on stop).
        self._lake_env = os.environ.get(LAKE_ENV)
        os.environ[LAKE_ENV] = str(lake)
        supervisor = CollectorSupervisor(
            lake,
            config_file=self.config_file,
            simulated=self.simulated,
            rate=self.rate,
            attach=self.attach,
            stop_timeout=self.stop_timeout,
        )
        lake_reader = LakeReader(lake)
        self.state = ServerState(
            supervisor=supervisor,
            hub=StreamHub(supervisor, lake_reader, flush_seconds=self.stream_flush),
            lake_reader=lake_reader,
            version=_version(),
            query_max_rows=self.query_max_rows,
            query_timeout=self.query_timeout,
        )
        self.metrics_bridge = CollectorMetricsBridge(supervisor)
        self.report_service = ReportService(
            data_dir=Path(self.data_dir).expanduser() if self.data_dir else data_directory(lake),
            lake=lake,
            enabled=self.reports,
            max_concurrent=max(1, self.report_concurrency),
        )
        self.settings["alphapulse_state"] = self.state
        self.settings["alphapulse_reports"] = self.report_service
        self.log.info("AlphaPulse: lake %s (pid %d)", lake, os.getpid())

    def initialize_handlers(self) -> None:
        self.handlers.extend((pattern, handler) for pattern, handler, _ in ROUTES)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        if not hasattr(self, "state"):
            return  # initialize_settings failed (logged by the server)
        self.state.hub.start()
        self.metrics_bridge.start()
        await self.report_service.start()
        if self.autostart:
            await self.state.supervisor.start()

    async def stop_extension(self) -> None:
        if hasattr(self, "_lake_env"):
            if self._lake_env is None:
                os.environ.pop(LAKE_ENV, None)
            else:
                os.environ[LAKE_ENV] = self._lake_env
        if not hasattr(self, "state"):
            return  # initialize_settings failed (logged by the server): nothing was started
        try:
            await self.report_service.stop()
            await self.state.hub.stop()
            await self.metrics_bridge.stop()
        finally:
            await self.state.supervisor.stop()  # the collector stops whatever happened above
            self.state.close()
