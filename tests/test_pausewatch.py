"""The collector's own pauses: recognised once, and not blamed on the venues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import orjson

from alphapulse.pausewatch import PauseWatch


def test_a_jump_of_the_clock_is_one_pause() -> None:
    now = [100.0]
    pauses: list[float] = []
    watch = PauseWatch(pauses.append, tick=0.5, threshold=3.0, clock=lambda: now[0])
    for _ in range(4):  # ticks, late by a loaded machine's margin
        now[0] += 1.5
        assert watch.check() == 0.0
    now[0] += 10.0
    assert watch.check() == 10.0
    assert watch.check() == 0.0  # the next watchdog to look sees no second pause
    assert pauses == [10.0] and watch.resumed_at == now[0]
    assert watch.since(now[0] - 20) == now[0] and watch.since(now[0] + 1) == now[0] + 1


def test_a_stopped_collector_reports_its_pause_not_stalls() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.pause_child"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.5)
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(5.0)  # well beyond the child's 2 s stall and quiet limits
        os.kill(child.pid, signal.SIGCONT)
        time.sleep(4.0)  # the watchdogs have looked, several times, since the resume
        child.stdin.write("stop\n")
        child.stdin.flush()
        counts = orjson.loads(child.stdout.readline())
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.wait()
    assert counts.get("process_paused") == 1, counts
    assert "stall" not in counts and "channel_quiet" not in counts, counts
    assert counts["connect"] == 1, counts
