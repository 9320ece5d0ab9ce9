"""The collector's config file: the documented example loads, every mistake is one line that
names the file and the key, and no input at all gets past the loader as a traceback."""

from __future__ import annotations

import inspect
import json
import math
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alphapulse import config as config_module
from alphapulse.commands import build_parser, collect_config
from alphapulse.config import (
    CHANNELS,
    KRAKEN_DEPTHS,
    CollectorConfig,
    ConfigError,
    VenueConfig,
    VenuesSchema,
)
from alphapulse.venues import VENUES, Alpaca, Kraken, Venue

SECRETS = ("ALPACA_API_KEY", "ALPACA_API_SECRET", "COINBASE_API_KEY", "COINBASE_API_SECRET")


@pytest.fixture(autouse=True)
def _no_keys_or_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRETS, "ALPHAPULSE_CONFIG", "ALPHAPULSE_LAKE"):
        monkeypatch.delenv(name, raising=False)


def load_text(tmp_path: Path, text: str | bytes) -> CollectorConfig:
    path = tmp_path / "collector.toml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return CollectorConfig.load(path)


def one_line_error(error: ConfigError, source: str) -> str:
    message = str(error)
    assert message.startswith(f"{source}: "), message
    assert "\n" not in message and "\r" not in message, message
    return message


def test_the_documented_example_loads(tmp_path: Path) -> None:
    doc = config_module.__doc__ or ""
    (example,) = re.findall(r"```toml\n(.*?)```", doc, re.S)
    config = load_text(tmp_path, example)
    assert config.lake == Path("data/lake")
    assert list(config.venues) == ["kraken", "binance", "alpaca"]  # the file's order
    kraken = config.venues["kraken"]
    assert kraken.symbols == ["BTC/USD", "ETH/USD"] and kraken.depth == 25
    assert config.venues["binance"].urls == {
        "ws": "wss://stream.binance.com:9443",  # as written: no "/" appended
        "rest": "https://api.binance.com",
    }
    assert config.venues["alpaca"].channels == ("trades", "ticker", "news")
    assert [v.name for v in config.build_venues()] == ["kraken", "binance", "alpaca"]
    assert config.journal is True and config.pg_dsn == "postgresql://collector@db:5432/market"


KRAKEN = '[venues.kraken]\nsymbols = ["BTC/USD"]\n'

BAD_FILES = [
    # (file text, what the one line must say)
    (
        '[venues.kraken]\nsymbols = "BTC/USD"\n',
        "venues.kraken.symbols: expected an array, got a string 'BTC/USD'",
    ),
    ("[venues.kraken]\nsymbols = []\n", "venues.kraken.symbols: no symbols"),
    ("[venues.kraken]\n", "venues.kraken.symbols: no symbols"),
    ("[venues.kraken]\nsymbols = [1]\n", "venues.kraken.symbols[0]: expected a string"),
    (
        '[venues.kraken]\nsymbols = ["BTC/USD", "ETH/USD", "BTC/USD"]\n',
        "venues.kraken.symbols: duplicate symbol 'BTC/USD'",
    ),
    ('[venues.kraken]\nsymbols = ["BTC/USD "]\n', "venues.kraken.symbols[0]: 'BTC/USD '"),
    (
        KRAKEN + 'channels = ["book", "level3"]\n',
        "venues.kraken.channels: unknown channel 'level3' (known: book, ticker, trades)",
    ),
    (KRAKEN + "channels = []\n", "venues.kraken.channels: "),
    (
        '[venues.coinbase]\nsymbols = ["BTC-USD"]\nchannels = ["news"]\n',
        "venues.coinbase.channels: unknown channel 'news'",
    ),
    (KRAKEN + "depth = 20\n", "venues.kraken.depth: depth 20 is not one of 10, 25, 100, 500, 1000"),
    (KRAKEN + 'depth = "10"\n', "venues.kraken.depth: expected an integer, got a string '10'"),
    (KRAKEN + "depth = 10.0\n", "venues.kraken.depth: expected an integer, got a float 10.0"),
    (KRAKEN + "depth = true\n", "venues.kraken.depth: expected an integer, got a boolean True"),
    (
        '[venues.coinbase]\nsymbols = ["BTC-USD"]\ndepth = 10\n',
        "venues.coinbase.depth: unknown key 'depth'",
    ),
    (
        KRAKEN + 'urls = { ws = "https://ws.kraken.com/v2" }\n',
        "venues.kraken.urls.ws: 'https://ws.kraken.com/v2' is not a ws:// or wss:// URL",
    ),
    (KRAKEN + 'urls = { ws = "wss://" }\n', "venues.kraken.urls.ws: 'wss://' is not a ws://"),
    (KRAKEN + 'urls = { ws = "wss://h:70000" }\n', "has a port out of range"),
    (
        KRAKEN + 'urls = { rest = "https://api.kraken.com" }\n',
        "venues.kraken.urls.rest: unknown key 'rest' (known: ws)",
    ),
    (
        '[venues.binance]\nsymbols = ["BTCUSDT"]\nurls = { ws = "wss://a", rst = "https://b" }\n',
        "venues.binance.urls.rst: unknown key 'rst' (did you mean 'rest'? known: ws, rest)",
    ),
    (
        '[venues.binance]\nsymbols = ["BTCUSDT"]\nurls = { rest = "ftp://b" }\n',
        "venues.binance.urls.rest: 'ftp://b' is not a http:// or https:// URL",
    ),
    (
        '[venues.alpaca]\nsymbols = ["AAPL"]\nfeed = "pro"\n',
        "venues.alpaca.feed: input should be 'iex' or 'sip', got a string 'pro'",
    ),
    (
        '[venues.nasdaq]\nsymbols = ["AAPL"]\n',
        "venues.nasdaq: unknown venue 'nasdaq' (known: kraken, coinbase, binance, binance_us, "
        "alpaca)",
    ),
    ('[venues.krakn]\nsymbols = ["BTC/USD"]\n', "did you mean 'kraken'?"),
    ('lak = "data/lake"\n', "lak: unknown key 'lak' (did you mean 'lake'? known: lake,"),
    ("lake = 5\n", "lake: expected a string, got an integer 5"),
    ('lake = ""\n', "lake: an empty path"),
    ('capture = "a\\u0000b"\n', "capture: 'a\\x00b' holds a NUL character"),
    ("venues = 5\n", "venues: expected a table, got an integer 5"),
    ('[venues]\nkraken = "BTC/USD"\n', "venues.kraken: expected a table, got a string"),
    ('"a\\nb" = 1\n', "'a\\nb': unknown key"),  # a newline in a key stays on the line
    ("lake = \n", "not valid TOML"),
    ("[venues.kraken]\n[venues.kraken]\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_FILES)
def test_a_mistake_is_one_line_naming_the_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    message = one_line_error(caught.value, str(tmp_path / "collector.toml"))
    assert expected in message


def test_every_mistake_is_reported_on_the_one_line(tmp_path: Path) -> None:
    text = '[venues.kraken]\nsymbols = "BTC/USD"\ndepth = 20\nchannel = ["book"]\nx = 1\n'
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text)
    message = one_line_error(caught.value, str(tmp_path / "collector.toml"))
    assert message.count("venues.kraken.") == 3 and message.endswith("(and 1 more)")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_text(tmp_path, b'lake = "\xff"\n')
    with pytest.raises(ConfigError, match="No such file or directory"):
        CollectorConfig.load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="Is a directory"):
        CollectorConfig.load(tmp_path)


def test_the_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.toml"
    path.write_text("lake = 5\n")
    monkeypatch.setenv("ALPHAPULSE_CONFIG", str(path))
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: lake: "):
        CollectorConfig.load()


def test_a_home_directory_in_a_path_is_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``lake = "~/data/lake"`` used to create a directory named "~" where collect ran."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ALPHAPULSE_LAKE", raising=False)
    config_file = tmp_path / "c.toml"
    config_file.write_text('lake = "~/lake"\ncapture = "~/c.capture.zst"\n')
    config = CollectorConfig.load(config_file)
    assert (config.lake, config.capture) == (tmp_path / "lake", tmp_path / "c.capture.zst")
    monkeypatch.setenv("ALPHAPULSE_LAKE", "~/other")
    assert CollectorConfig.load(config_file).lake == tmp_path / "other"


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 100_000 + "]" * 100_000,
        "a = " + "{b = " * 5_000 + "1" + "}" * 5_000,
        "[venues.kraken]\nsymbols = " + "[" * 3_000 + '"a"' + "]" * 3_000,
    ],
    ids=["arrays", "inline tables", "symbols"],
)
def test_nesting_too_deep_for_the_parser_is_one_line(text: str, tmp_path: Path) -> None:
    """tomllib recurses per level: a RecursionError (thousands of traceback lines)."""
    path = tmp_path / "deep.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=r"deep.toml: not valid TOML: .* nested too deeply$"):
        CollectorConfig.load(path)


@pytest.mark.parametrize("depth", [50, 200])
def test_nesting_the_parser_takes_is_a_type_error(depth: int, tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("[venues.kraken]\nsymbols = " + "[" * depth + '"a"' + "]" * depth + "\n")
    with pytest.raises(ConfigError, match=r"venues.kraken.symbols\[0\]: expected a string"):
        CollectorConfig.load(path)


def test_every_venue_has_a_schema_and_channels() -> None:
    assert set(VenuesSchema.model_fields) == set(VENUES) == set(CHANNELS)


@pytest.mark.parametrize("name", sorted(VENUES))
def test_every_known_channel_changes_what_a_venue_subscribes_to(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHANNELS is read from the venue modules' tables; a channel listed there that the
    venue ignored would be accepted in a config and silently collect nothing."""
    monkeypatch.setenv("ALPACA_API_KEY", "key")
    monkeypatch.setenv("ALPACA_API_SECRET", "secret")
    symbols = ["AAPL", "BTC/USD"] if name == "alpaca" else ["BTC-USD"]

    def subscribed(channels: tuple[str, ...]) -> list[Any]:
        venue = VENUES[name](symbols, channels=channels)
        return [(c.url, c.subscribe) for c in venue.connections()]

    nothing = subscribed(())
    for channel in CHANNELS[name]:
        assert subscribed((channel,)) != nothing, channel


def test_feed_is_passed_only_to_a_venue_that_takes_it() -> None:
    class WithFeed(Venue):
        name = "with_feed"

        def __init__(self, symbols: list[str], *, feed: str = "iex", **kwargs: Any) -> None:
            super().__init__(symbols, **kwargs)
            self.feed = feed

    sip = VenueConfig(["AAPL"], feed="sip")
    assert sip.venue_kwargs(WithFeed)["feed"] == "sip"
    assert "feed" not in VenueConfig(["AAPL"]).venue_kwargs(Kraken)
    with pytest.raises(ConfigError, match="feed: this build's kraken venue has no feed setting"):
        sip.venue_kwargs(Kraken)


def test_alpaca_feed_from_the_file(tmp_path: Path) -> None:
    text = '[venues.alpaca]\nsymbols = ["AAPL"]\nfeed = "sip"\n'
    if "feed" in inspect.signature(Alpaca).parameters:
        (venue,) = load_text(tmp_path, text).build_venues()
        assert venue.feed == "sip"  # type: ignore[attr-defined]
    else:  # before the Alpaca module takes a feed: refused, not ignored
        with pytest.raises(ConfigError, match=r"venues\.alpaca\.feed: this build's alpaca"):
            load_text(tmp_path, text)


# --- no input is a traceback ----------------------------------------------------------------

KEYS = ["lake", "capture", "venues", "symbols", "channels", "urls", "ws", "rest", "depth", "feed"]
keys = st.sampled_from([*KEYS, *VENUES, *sorted(set().union(*CHANNELS.values()))]) | st.text(
    max_size=8
)
scalars = (
    st.text(max_size=12)
    | st.sampled_from(["BTC/USD", "AAPL", "wss://h:1", "https://h", "iex", "sip", "book", "."])
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.sampled_from([10, 25, 1000, 0])
    | st.floats()
    | st.booleans()
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
symbol_lists = st.lists(st.sampled_from(["BTC/USD", "BTC-USD", "BTCUSDT", "AAPL", "", "X"]))
venue_tables = st.fixed_dictionaries(
    {},
    optional={
        "symbols": st.lists(st.sampled_from(["BTC/USD", "BTC-USD", "BTCUSDT", "AAPL"]), min_size=1)
        | symbol_lists
        | values,
        "channels": st.lists(st.sampled_from(["book", "trades", "ticker", "news", "x"])) | values,
        "urls": st.dictionaries(
            st.sampled_from(["ws", "rest", "x"]),
            st.sampled_from(["wss://h", "https://h", "ws://h:0", "http://h:99999"]) | values,
            max_size=2,
        ),
        "depth": st.sampled_from(KRAKEN_DEPTHS) | values,
        "feed": st.sampled_from(["iex", "sip"]) | values,
    },
)
paths = st.text(min_size=1, max_size=12) | values
configs = st.dictionaries(keys, values, max_size=3) | st.fixed_dictionaries(
    {"venues": st.dictionaries(st.sampled_from([*VENUES, "nasdaq"]), venue_tables, max_size=3)},
    optional={"lake": paths, "capture": paths},
)


def toml_value(value: Any) -> str:
    """An inline TOML value (TOML arrays may mix types; an inline table holds any keys)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return "{" + ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_string(text: str) -> str:
    """JSON's escapes are TOML's, but not its surrogate pairs (hence no ensure_ascii), and
    TOML also wants DEL escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_file(data: dict[str, Any]) -> str:
    return "".join(f"{toml_string(k)} = {toml_value(v)}\n" for k, v in data.items())


def check_collect_config(path: Path, *options: str) -> None:
    """``alphapulse collect --config path``'s validation, stopped before anything starts:
    it returns a config or raises a one-line ConfigError, and nothing else."""
    args = build_parser().parse_args(["collect", "--config", str(path), *options])
    try:
        collect_config(args)
    except ConfigError as e:
        one_line_error(e, str(path))


FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(data=configs)
def test_structures_of_any_type_are_config_errors(tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(toml_file(data), errors="surrogatepass")
    check_collect_config(path)
    check_collect_config(path, "--simulated")
    try:
        CollectorConfig.from_dict(data, source="dict")
    except ConfigError as e:
        one_line_error(e, "dict")


toml_ish = st.lists(
    st.sampled_from(
        [
            "[venues.kraken]\n",
            "symbols = ",
            '"BTC/USD"',
            "[",
            "]",
            "{",
            "}",
            ",",
            "=",
            "\n",
            '"',
            "depth = 25\n",
            "lake",
            ".",
            "1e9",
            "nan",
            "true",
            "#",
            "\\",
            "'",
        ]
    )
    | st.text(max_size=4),
    max_size=20,
).map("".join)


@FUZZ
@given(text=toml_ish | st.binary(max_size=64))
def test_any_text_is_a_config_error(tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "fuzz.toml"
    if isinstance(text, str):
        path.write_text(text, errors="surrogatepass")
    else:
        path.write_bytes(text)
    check_collect_config(path)


def test_the_buffer_dsn_comes_from_the_environment_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('pg_dsn = "postgresql://file@db/market"\njournal = false\n' + KRAKEN)
    monkeypatch.delenv("ALPHAPULSE_PG_DSN", raising=False)
    config = CollectorConfig.load(path)
    assert config.pg_dsn == "postgresql://file@db/market" and config.journal is False
    monkeypatch.setenv("ALPHAPULSE_PG_DSN", "postgresql://env:pw@db/market")
    assert CollectorConfig.load(path).pg_dsn == "postgresql://env:pw@db/market"
    assert CollectorConfig().pg_dsn is None and CollectorConfig().journal is True
    path.write_text('journal = "no"\n' + KRAKEN)
    with pytest.raises(ConfigError, match="journal"):
        CollectorConfig.load(path)
