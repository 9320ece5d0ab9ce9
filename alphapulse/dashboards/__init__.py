"""The Voila dashboards' logic: the monitoring wall and the news screen.

The notebooks in ``voila_apps/`` (shipped in the wheel as ``alphapulse/dashboards/apps/``)
are a parameters cell and one call each::

    from alphapulse.dashboards import monitor
    monitor(lake=lake, instruments=instruments)

Both are ipywidgets and the package's charts, fed from the kernel by the collector of the
lake (its control endpoint and live channel); they work the same under ``alphapulse
dashboards``, Voila's ``/voila/render/`` in JupyterLab, standalone ``voila`` and a notebook.
``alphapulse dashboards`` (``alphapulse.dashboards.serve``) runs the server for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alphapulse.dashboards.monitor_dashboard import monitor
    from alphapulse.dashboards.news_dashboard import news

__all__ = ["monitor", "news"]


def __getattr__(name: str) -> Any:
    # The widgets (ipywidgets, anywidget) are imported when a dashboard is made, not when
    # `alphapulse dashboards` builds its command line.
    if name == "monitor":
        from alphapulse.dashboards.monitor_dashboard import monitor

        return monitor
    if name == "news":
        from alphapulse.dashboards.news_dashboard import news

        return news
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
