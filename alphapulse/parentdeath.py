"""Children that die with the process that started them.

A collector under the Jupyter server, a report under the scheduler: when their parent is
killed (``kill -9``, OOM) nothing is left to stop them, so they are asked, between fork and
exec, to get SIGTERM when it dies (Linux's ``PR_SET_PDEATHSIG``; elsewhere nothing).
The signal comes when the *thread* that started the child ends: start children from a
thread that outlives them (the event loop's, or a worker that waits for the child).
"""

from __future__ import annotations

import contextlib
import ctypes
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A ``preexec_fn`` for subprocess."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
