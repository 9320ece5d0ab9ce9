"""AlphaPulse: a Jupyter-native research workbench for crypto and equity market data.

The hot path (venue normalizers, L2 books, Arrow export) is the Rust extension
``alphapulse._core``; see ``alphapulse.replay`` and ``alphapulse.capture`` to run it over
recorded frames.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # The Rust core loads on first use, not with the package: ``python -m alphapulse``
    # imports this before the command's Ctrl-C handling is in place (see alphapulse.cli).
    if name == "__version__":
        from alphapulse._core import __version__

        return __version__
    raise AttributeError(f"module 'alphapulse' has no attribute {name!r}")
