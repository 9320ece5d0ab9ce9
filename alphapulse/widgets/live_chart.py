"""What both charts share: the bundled front end, the options, and live data.

Live data: ``live_spec`` says what to stream (``{}``: nothing). The front end subscribes
to the server's stream itself while the chart has a view on screen; when it cannot, it
sends ``{"type": "relay"}`` and the kernel relays (alphapulse.widgets.relay) until
``{"type": "relay_stop"}``. The method that starts streaming is ``live()``, so the
traitlet the front end reads is named ``live_spec``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Final, Literal

import anywidget
import traitlets

from alphapulse.widgets.relay import Relay, Source, default_source, subscriptions

#: The charts' ES module, built from extension/charts (``make widgets``).
BUNDLE: Final = Path(__file__).resolve().parent / "static" / "charts.js"

#: What a chart shows when the bundle was not built: a sentence, not a blank output.
_MISSING_BUNDLE: Final = """
export default {
  render({ el }) {
    el.textContent = "AlphaPulse charts: the front end is not built. Run `make widgets` "
      + "(cd extension/charts && npm ci && node build.mjs), then restart the kernel.";
  },
};
"""

Theme = Literal["auto", "light", "dark"]
THEMES: Final = ("auto", "light", "dark")


def chart_options(
    chart: str, *, height: int, title: str | None, theme: Theme, volume: bool
) -> dict[str, Any]:
    """The ``options`` traitlet, checked: a wrong value fails in the cell, not in the page."""
    if isinstance(height, bool) or not isinstance(height, int) or height < 80:
        raise ValueError(f"{chart}: height is in pixels, 80 or more, not {height!r}")
    if theme not in THEMES:
        raise ValueError(f"{chart}: theme is one of {', '.join(THEMES)}, not {theme!r}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"{chart}: title is text, not {type(title).__name__}")
    return {"height": height, "title": title, "theme": theme, "volume": bool(volume)}


class LiveChart(anywidget.AnyWidget):
    """A chart of the bundle; subclasses set ``kind`` (which chart the front end draws)."""

    _esm = BUNDLE if BUNDLE.is_file() else _MISSING_BUNDLE

    #: One per chart: the front end shares a chart's data and live source between its views
    #: by it (anywidget gives each view a model proxy of its own).
    chart_id = traitlets.Unicode(read_only=True).tag(sync=True)
    #: Which chart the front end draws ("candlestick" or "depth"); one bundle draws both.
    kind = traitlets.Unicode("candlestick", read_only=True).tag(sync=True)
    live_spec = traitlets.Dict().tag(sync=True)
    options = traitlets.Dict().tag(sync=True)

    #: Where the kernel relay reads live items (default ``alphapulse.live.live_items``).
    relay_source: Source | None = None
    #: The lake the relay reads history from (None: ``live_items``' default).
    lake: Path | None = None

    #: The kernel relay while one runs (a class default: ipywidgets' __del__ closes a
    #: chart whose __init__ failed, before it had one).
    _relay: Relay | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_msg(self._on_front_end_message)

    # -- live ---------------------------------------------------------------------------

    def stop_live(self) -> None:
        """Stops streaming; the chart keeps what it has drawn."""
        self.live_spec = {}

    @traitlets.default("chart_id")
    def _new_chart_id(self) -> str:
        return uuid.uuid4().hex

    @traitlets.observe("live_spec")
    def _live_spec_changed(self, _change: Any) -> None:
        # The front end decides again where the new spec's data comes from, and asks for
        # the relay if it needs it.
        self._stop_relay()

    def _on_front_end_message(self, _widget: object, content: Any, _buffers: object) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "relay":
            self.start_relay()
        elif kind == "relay_stop":  # the chart's last view is gone (output cleared, cell rerun)
            self._stop_relay()

    def start_relay(self) -> None:
        """Relays ``live_spec``'s items from the kernel (what a ``{"type": "relay"}`` from
        the front end does). A relay already running starts again, so that a page that was
        reloaded gets the history first."""
        self._stop_relay()
        kind: Literal["candlestick", "depth"] = "depth" if self.kind == "depth" else "candlestick"
        specs = subscriptions(kind, self.live_spec)
        if not specs:
            return
        try:
            source = self.relay_source or default_source()
        except ImportError as error:
            self.send({"type": "error", "message": f"no live data in this kernel: {error}"})
            return
        self._relay = Relay(self.send, source, self.lake, specs)
        self._relay.start()

    def _stop_relay(self) -> None:
        if self._relay is not None:
            self._relay.stop()
            self._relay = None

    @property
    def relay(self) -> Relay | None:
        """The kernel relay, while one runs."""
        return self._relay

    def close(self) -> None:
        self._stop_relay()
        super().close()

    def _set_live(self, spec: dict[str, Any], lake: str | Path | None) -> None:
        instrument = spec.get("instrument")
        if not isinstance(instrument, str) or ":" not in instrument:
            raise ValueError(
                f"live(): an instrument is '<venue>:<venue symbol>', e.g. 'kraken:BTC/USD', "
                f"not {instrument!r}"
            )
        if lake is not None:
            self.lake = Path(lake)
        self.live_spec = {k: v for k, v in spec.items() if v is not None}
