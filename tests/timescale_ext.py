"""TimescaleDB for the buffer's tests: Debian has no package for it, so .ci/timescaledb.sh
installs it into Debian's PostgreSQL 15 from the shared vendor folder (the prebuilt tarball
where the server can load it, else a build cached for the next run; see the script). CI
runs the script before the tests; a test run without CI's preparation runs it here.

    ensure_timescaledb()   # or PostgresUnavailableError saying why not
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.pg_cluster import PostgresUnavailableError, find_bin_dir

SCRIPT = Path(__file__).resolve().parents[1] / ".ci" / "timescaledb.sh"
#: Set by .ci/run when its install failed (the reason).
UNAVAILABLE_ENV = "ALPHAPULSE_TIMESCALEDB_UNAVAILABLE"
#: Set by .ci/run when its install succeeded: the tests then fail rather than skip.
REQUIRE_ENV = "ALPHAPULSE_REQUIRE_TIMESCALEDB"
BUILD_TIMEOUT = 1800  # a build from source on a loaded two-core machine


def ensure_timescaledb() -> None:
    """TimescaleDB installed for the server here, or PostgresUnavailableError saying why."""
    if why := os.environ.get(UNAVAILABLE_ENV):  # CI tried already: no second build here
        raise PostgresUnavailableError(why)
    bin_dir = find_bin_dir()
    if bin_dir.parent.name != "15":
        raise PostgresUnavailableError(
            f"TimescaleDB is vendored for PostgreSQL 15, not {bin_dir.parent.name}"
        )
    done = subprocess.run(
        ["bash", str(SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise PostgresUnavailableError(f"{SCRIPT.name} failed: {tail}")
