"""`alphapulse simulate` as a user runs it: every bad value is one line on stderr and exit 2
(1 when the server cannot listen), before anything is served; never a traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from alphapulse.simulator.faults import FaultPlan


def simulate(*args: str, module: str = "alphapulse") -> subprocess.CompletedProcess[str]:
    """Bad input is refused before serving: a server that starts anyway hangs until the
    timeout, and fails the test."""
    prefix = ["simulate"] if module == "alphapulse" else []
    return subprocess.run(
        [sys.executable, "-m", module, *prefix, "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def one_line_error(out: subprocess.CompletedProcess[str], code: int, expected: str) -> None:
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == code, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("alphapulse simulate: error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--stats-every", "-1"], "argument --stats-every: must be 0 or above, not '-1'"),
        (["--stats-every", "nan"], "argument --stats-every: not a finite number"),
        (["--bar-seconds", "0"], "argument --bar-seconds: must be above 0, not '0'"),
        (["--news-seconds", "0"], "argument --news-seconds: must be above 0, not '0'"),
        (["--news-seconds", "inf"], "argument --news-seconds: not a finite number"),
        (["--seed", "1" + "0" * 30], "argument --seed: must fit in 64 bits"),
        (["--fault", "skip_every=0"], "argument --fault: skip_every must be 1 or more, not 0"),
        (["--fault", "drop_after=-1"], "argument --fault: drop_after must be 1 or more, not -1"),
        (["--fault", "skip_every=x"], "argument --fault: skip_every: not an integer: 'x'"),
        (["--fault", "stall_seconds=-2"], "stall_seconds must be a finite number, 0 or above"),
        (["--fault", "delay_seconds=nan"], "delay_seconds must be a finite number, 0 or above"),
        (["--fault", "connections=-1"], "argument --fault: connections: not a connection index"),
        (["--fault", "connections="], "argument --fault: connections: none given"),
        (["--fault", "explode=1"], "argument --fault: bad fault 'explode=1'; expected name=value"),
        (
            ["--credentials", "nocolon"],
            "argument --credentials: expected KEY:SECRET, not 'nocolon'",
        ),
        (["--credentials", ":secret"], "argument --credentials: expected KEY:SECRET"),
        (["--symbols", "BTC/USD,,ETH/USD"], "argument --symbols: an empty symbol"),
        (["--symbols", "ZZZ"], "--symbols: 'ZZZ' is not a BASE/QUOTE pair"),
    ],
)
def test_bad_values_are_one_line_usage_errors(args: list[str], expected: str) -> None:
    one_line_error(simulate(*args), 2, expected)


def test_an_unknown_host_is_one_line_runtime_error() -> None:
    out = simulate("--host", "nonexist.invalid")
    one_line_error(out, 1, "cannot listen on nonexist.invalid:")
    assert "[Errno" not in out.stderr


def test_a_taken_port_is_one_line_runtime_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = simulate("--port", str(port))
    one_line_error(out, 1, f"cannot listen on 127.0.0.1:{port}: Address already in use")


def test_the_modules_own_entry_is_the_same_command() -> None:
    """`python -m alphapulse.simulator.cli` printed a UsageError traceback."""
    one_line_error(
        simulate("--symbols", "ZZZ", module="alphapulse.simulator.cli"),
        2,
        "--symbols: 'ZZZ' is not a BASE/QUOTE pair",
    )
    one_line_error(
        simulate("--fault", "skip_every=0", module="alphapulse.simulator.cli"),
        2,
        "argument --fault: skip_every must be 1 or more",
    )


def test_stats_every_prints_throughput_until_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "alphapulse", "simulate", "--port", "0", "--stats-every", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]
        assert lines[3] == "Ctrl-C to stop\n"
        assert lines[4].endswith(" connection(s)\n") and " steps/s, " in lines[4], lines
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (0, "")
    assert out.endswith("stopped\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("corrupt_every=0", "corrupt_every must be 1 or more, not 0"),
        ("stall_after=-5", "stall_after must be 1 or more, not -5"),
        ("unknown_every=1.5", "unknown_every: not an integer: '1.5'"),
        ("delay_seconds=-1", "delay_seconds must be a finite number, 0 or above, not -1.0"),
        ("connections=0;-1", "connections: not a connection index: -1"),
        ("connections=0;x", "connections: not a connection index: 'x'"),
    ],
)
def test_fault_plan_refuses_counts_that_mean_nothing(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        FaultPlan.parse(text)
