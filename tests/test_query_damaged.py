"""A lake file cut short or emptied (a crash, a full disk): the other tables keep working,
and whatever touches the damaged one says which file it is and what to do."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import alphapulse
from alphapulse.lake import LakeError, LakeWriter
from alphapulse.lake.reader import read_table
from alphapulse.query import QueryError
from tests.conftest import ROOT
from tests.query_lakes import DAY0_NS, trades, write_trades_lake


def damaged_lake(root: Path, size: str) -> Path:
    """A lake of trades in two venues (``quotes``, without files, is still a view) with one
    kraken trades file cut to ``size`` ("half" or "zero"). Returns that file."""
    write_trades_lake(root, venues=("kraken", "coinbase"), days=1, rows_per_day=400)
    victim = sorted(root.glob("trades/venue=kraken/date=*/part-*.parquet"))[0]
    with victim.open("r+b") as f:
        f.truncate(0 if size == "zero" else victim.stat().st_size // 2)
    return victim


def sql(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alphapulse", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("size", ["half", "zero"])
def test_a_damaged_file_fails_only_its_table_naming_the_file(tmp_path: Path, size: str) -> None:
    root = tmp_path / "lake"
    victim = damaged_lake(root, size)

    with alphapulse.connect(root) as s:
        assert s.query("select count(*) n from quotes")["n"][0] == 0
        assert "price" in s.columns("trades")
        with pytest.raises(QueryError) as caught:
            s.query("select count(*) from trades")
        message = str(caught.value)
        assert message.startswith(f"trades: damaged lake file {victim} (")
        assert message.endswith("move it out of the lake or restore it, then query again")
        assert "\n" not in message

        # Moved out by hand (no generation bump): the next query reads the rest.
        shutil.move(victim, tmp_path / victim.name)
        assert s.query("select count(*) n from trades")["n"][0] > 0

    shutil.move(tmp_path / victim.name, victim)
    with pytest.raises(LakeError, match=f"trades: damaged lake file {victim}"):
        alphapulse.scan("trades", lake=root)
    with pytest.raises(LakeError, match=f"trades: damaged lake file {victim}"):
        read_table(root, "trades")
    # A venue whose partitions hold no damage still scans.
    assert alphapulse.scan("trades", venue="coinbase", lake=root).collect().height > 0


def test_the_commands_name_the_damaged_file(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    victim = damaged_lake(root, "half")
    # A second file in the victim's partition, so that compaction has a group there.
    with LakeWriter(root) as writer:
        writer.write("trades", trades("kraken", ["BTC/USD"], DAY0_NS + 10**9, 10**9, 50, 7))

    out = sql("sql", "--lake", str(root), "select count(*) n from quotes")
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "0", out.stderr

    out = sql("sql", "--lake", str(root), "select count(*) n from trades")
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert f"trades: damaged lake file {victim}" in out.stderr

    out = sql("lake", "info", "--lake", str(root))
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert f"trades: damaged lake file {victim}" in out.stderr
    assert f"damaged file {victim}" in out.stdout and "Traceback" not in out.stderr

    before = sorted(victim.parent.iterdir())
    out = sql("lake", "compact", "--lake", str(root), "--older-than", "0s")
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert victim.name in out.stderr and "left as it was" in out.stderr
    assert sorted(victim.parent.iterdir()) == before  # its partition untouched
    # The other venue's partition was compacted.
    assert len(list(root.glob("trades/venue=coinbase/date=*/part-*.parquet"))) == 1
    assert victim.stat().st_size > 0


def test_damage_inside_a_page_names_the_table(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    write_trades_lake(root, venues=("kraken",), days=1, rows_per_day=3_000, batches=1)
    (victim,) = root.glob("trades/venue=kraken/date=*/part-*.parquet")
    data = bytearray(victim.read_bytes())
    instrument = pq.read_metadata(victim).row_group(0).column(3)
    for i in range(40):  # the page header: the footer still reads, the page does not
        data[instrument.data_page_offset + i] ^= 0x5A
    victim.write_bytes(bytes(data))

    with alphapulse.connect(root) as s:
        assert s.query("select count(*) n from quotes")["n"][0] == 0
        for sql in ["select max(instrument) from trades", "select * from bars('1m')"]:
            with pytest.raises(QueryError) as caught:
                s.query(sql)
            text = str(caught.value)
            assert "\n" not in text and text.isprintable()
            assert "reading the lake's files of trades failed: one may be damaged" in text
