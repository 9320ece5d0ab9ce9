"""The ``alphapulse`` command's entry point: the console script and ``python -m alphapulse``.

The commands (:mod:`alphapulse.commands`) import pyarrow, the Rust core, pydantic and the
simulator: about half a second before their Ctrl-C handling is in place. This module
imports nothing else at its top, so that a Ctrl-C in that half second is an interrupt like
any other (one line, exit 130) and not a KeyboardInterrupt traceback. During the import
Ctrl-C exits at once rather than raising: a KeyboardInterrupt inside a C extension's
initialisation (orjson's) can crash the interpreter.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not typing's: importing typing takes 20 ms, unprotected
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``alphapulse`` command (see :func:`alphapulse.commands.main`)."""
    try:
        import signal

        previous = signal.getsignal(signal.SIGINT)
        # Only Python's own handler is replaced: an ignored SIGINT (a job started with &)
        # stays ignored.
        ours = previous is signal.default_int_handler
        if ours:
            try:
                signal.signal(signal.SIGINT, _exit_interrupted)
            except ValueError:  # not the main thread: no handler to set, nor to replace
                ours = False
        try:
            from alphapulse import commands
        finally:
            if ours:
                signal.signal(signal.SIGINT, previous)
        return commands.main(argv)
    except KeyboardInterrupt:  # outside the import, and outside the command's own handler
        print("alphapulse: interrupted", file=sys.stderr)
        return INTERRUPTED


def _exit_interrupted(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"alphapulse: interrupted\n")
    os._exit(INTERRUPTED)  # nothing to flush or clean up yet: the command has not started
