"""AlphaPulse: a Jupyter-native research workbench for crypto and equity market data.

The hot path (venue normalizers, L2 books, Arrow export) is the Rust extension
``alphapulse._core``; see ``alphapulse.replay`` and ``alphapulse.capture`` to run it over
recorded frames.
"""

from alphapulse._core import __version__

__all__ = ["__version__"]
