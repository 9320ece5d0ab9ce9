"""``alphapulse collect`` with the lake's size roll made small (test_collect_limits' kill -9
test): a data partition then commits by SIZE in its first second, long before any buffer
is old enough to commit by age (``ROLL_SECONDS``), which is when a rule that left the
events to their age let a session's first data file land without its start events.

    python -m tests.collect_small_roll_child ROLL_BYTES [collect options...]
"""

from __future__ import annotations

import sys

from alphapulse import collect
from alphapulse.cli import main

if __name__ == "__main__":
    collect.ROLL_BYTES = int(sys.argv[1])  # read when run_collector builds its LakeWriter
    sys.exit(main(["collect", *sys.argv[2:]]))
