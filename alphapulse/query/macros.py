"""The session's table macros: ``bars(every, ...)`` and ``book_top(venue, symbol, at, depth)``.

``bars`` is plain SQL over the ``_alphapulse_trades`` view (the trades view plus each row's
position in its file): one pass, one hash aggregate on (instrument, bucket), reading only
``ts_recv``, ``venue``, ``symbol``, ``instrument``, ``price``, ``size`` and the row number.
Open and close are the first and last trade of the bucket in the lake's order: by
``ts_recv``, then by position in the file, since the trades of one venue message share
their ``ts_recv``. The filters sit on the scan: ``venue`` and ``date`` prune partitions
(``date`` between the start's and the stop's UTC dates), ``ts_recv`` skips row groups.

``book_top`` calls a Python function (``alphapulse.query.book``) that selects the rows with
its own DuckDB connection (never the session's: a query cannot run a query on its own
connection) and replays them with the core's ``OrderBook``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import pyarrow as pa

if TYPE_CHECKING:
    from alphapulse.query.session import Session

#: What ``bars()`` returns, in SQL and through ``MarketData.bars``.
BARS_SCHEMA: Final = pa.schema(
    [
        ("venue", pa.string()),
        ("symbol", pa.string()),
        ("instrument", pa.string()),
        ("ts", pa.timestamp("ns", tz="UTC")),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("vwap", pa.float64()),
        ("trades", pa.int64()),
    ]
)

#: ``every`` as nanoseconds: any DuckDB interval of fixed length ('1m', '250ms', '1h', '1d',
#: '90 seconds'); months and years have none. A constant: DuckDB folds it once.
_EVERY_NS: Final = """(case
    when every is null
    then error('bars: every is NULL: give an interval such as ''1m'', ''250ms'', ''1h''')
    when typeof(every) not in ('VARCHAR', 'INTERVAL')
    then error('bars: every must be text such as ''1m'' or an INTERVAL, not ' || typeof(every))
    when regexp_matches(cast(every as varchar), '^\\s*[0-9]+\\s*(ns|nanos?|nanoseconds?)\\s*$')
    then error('bars: ' || every || ': DuckDB intervals stop at microseconds; give 1us or more')
    when datepart('month', cast(cast(every as varchar) as interval)) <> 0
      or datepart('year', cast(cast(every as varchar) as interval)) <> 0
    then error('bars: ' || every || ' has months or years, which have no fixed length; '
               || 'give weeks, days, hours, minutes, seconds or less')
    when epoch(cast(cast(every as varchar) as interval)) <= 0
    then error('bars: ' || every || ' is not a positive interval (1m, 250ms, 1h...)')
    else cast(epoch(cast(cast(every as varchar) as interval)) * 1e9 as bigint)
end)"""

# Columns are qualified (t., r.) throughout: in a macro a bare name that is also a
# parameter (venue, symbol) is the parameter.
# The bucket is integer arithmetic on epoch nanoseconds (time_bucket() per row costs twice
# as much); the order key packs (ts_recv, row number) into one HUGEINT, which arg_min and
# arg_max compare faster than a struct. Grouping by venue and symbol too (the instrument
# decides them) costs less than an any_value() of each.
BARS_MACRO: Final = f"""
create or replace temp macro bars(
    every, venue := NULL, symbol := NULL, start := NULL, stop := NULL
) as table
with rows as (
    select
        t.venue,
        t.symbol,
        t.instrument,
        epoch_ns(t.ts_recv) // {_EVERY_NS} as bucket,
        epoch_ns(t.ts_recv)::hugeint * 4294967296 + t.file_row_number as position,
        t.price,
        t.size
    from _alphapulse_trades t
    where (venue is null or t.venue = venue)
      and (symbol is null or t.symbol = symbol)
      and (start is null or t.date >= cast(cast(start as timestamptz) as date))
      and (stop is null or t.date <= cast(cast(stop as timestamptz) as date))
      and (start is null or t.ts_recv >= cast(start as timestamptz_ns))
      and (stop is null or t.ts_recv < cast(stop as timestamptz_ns))
)
select
    r.venue,
    r.symbol,
    r.instrument,
    cast(make_timestamp_ns(r.bucket * {_EVERY_NS}) as timestamptz_ns) as ts,
    arg_min(r.price, r.position) as open,
    max(r.price) as high,
    min(r.price) as low,
    arg_max(r.price, r.position) as close,
    sum(r.size) as volume,
    sum(r.price * r.size) / sum(r.size) as vwap,
    count(*) as trades
from rows r
group by r.venue, r.symbol, r.instrument, r.bucket
-- A range that ends before it starts is an error, not no rows. A branch of its own: DuckDB
-- drops a contradictory filter's whole scan (and a check inside it) before running it.
union all
select null, null, null, null, null, null, null, null, null, null, null
where (case when cast(start as timestamptz_ns) > cast(stop as timestamptz_ns)
       then error('bars: start ' || start || ' is after stop ' || stop) end) is not null
order by instrument, ts
"""

BOOK_TOP_MACRO: Final = """
create or replace temp macro book_top(venue, symbol, "at", depth := 10) as table
select unnest(
    _alphapulse_book_top(
        venue,
        symbol,
        epoch_ns(cast("at" as timestamptz_ns)),
        case when depth >= 1 then depth
             else error('book_top: depth must be at least 1, not '
                        || coalesce(depth::varchar, 'NULL'))
        end
    ),
    recursive := true
)
"""


def install_macros(session: Session) -> None:
    session.con.execute(BARS_MACRO)
    from alphapulse.query.book import install_book_top

    install_book_top(session)
    session.con.execute(BOOK_TOP_MACRO)
