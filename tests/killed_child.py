"""A child process a crash test reads line by line and then kills with SIGKILL.

The crash tests (lake, journal, journal + lake) start a ``python -m tests.<child>`` that
prints what it has made durable, one line at a time, and kill it at a random moment.
Two traps this keeps them out of: ``Popen.communicate()`` reads the pipe's file
descriptor and so misses lines ``readline()`` had already buffered, and a line the kill
cut short must not count.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass

from tests.conftest import ROOT


@dataclass
class KilledChild:
    """The whole lines a child printed after the ones already read, and its stderr."""

    lines: list[str]
    stderr: str


class CrashChild:
    """``python -m MODULE ARGS...`` with its stdout read line by line."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line(self, starts: str = "") -> str:
        """The next line (without its newline); fails with the child's stderr if the
        child ended first or the line does not start with ``starts``."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.endswith("\n") or not line.startswith(starts):
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError(f"expected a line starting {starts!r}, got {line!r}: {err}")
        return line[:-1]

    def kill(self) -> KilledChild:
        """SIGKILL the child and collect the rest of its output. The child is dead, so
        reading one pipe to its end cannot block on the other."""
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out = self.proc.stdout.read()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        assert self.proc.wait() == -signal.SIGKILL, err
        whole = out.split("\n")[:-1]  # the text after the last newline was cut by the kill
        return KilledChild(whole, err)
