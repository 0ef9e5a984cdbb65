"""The sequential step: counters that have no closed form in SQL, settled one visit at a
time over each person's visits in settlement order.

Two caps on one payment (a yearly cap of 1000 and a daily cap of 300) interact: the
daily cap's room limits what the yearly cap is charged, and the yearly cap's room what
the daily one is, so no running sum of either alone gives the payment (over four
visits that each owe 300 on different days the answer is 300/300/300/100; a window per
cap would charge the yearly cap the unlimited amounts).  A cap or deductible whose
amount changes within one ledger key (a cap raised by a later version within a year)
has no closed form either.  For these the SQL plan has a *kernel* stage: the SQL before
it computes, per visit, the value to limit and, per counter, whether it applies, its
bucket, its ``each`` value and its amount; ``run`` computes the result exactly as the
reference interpreter's ``consume`` and ``limit`` handlers do; the SQL after it
continues from the result.

Plain Python over plain values, so any engine can call it: DuckDB between two queries
(``duckdb.py``), Spark per partition of persons with ``mapInArrow`` (``spark.py``).
"""

from __future__ import annotations

from typing import Iterable


def run(
    mode: str,
    counters: tuple,
    rows: Iterable[tuple],
    seed: dict | None = None,
    keep: bool = False,
    used: dict | None = None,
) -> list[tuple]:
    """``rows``: ``(row_no, psn_no, v, applies0, bucket0, each0, amount0, applies1, ...)``
    sorted by person, then settlement order.  ``mode``: "consume" (a deductible: take
    ``max(0, min(v, amount - used))``, charged what it takes; 0 where it does not apply)
    or "limit" (caps: ``v`` cut to the room of every cap that applies, each charged the
    result).  ``seed``: what earlier calls used, by ``(psn_no, counter id, bucket, each)``.
    Returns ``(row_no, out, used0, used1, ...)`` per row, with the amounts used after the
    row when ``keep`` (None where a counter does not apply).  ``used``: the amounts used so
    far, read and updated (a caller that feeds one person's visits in several calls, as
    Spark's batches do, passes the same dict)."""
    used = {} if used is None else used
    seed = seed or {}
    n = len(counters)
    settle = _consume if mode == "consume" else _limit
    out = []
    for row in rows:
        row_no, psn, v = row[0], row[1], row[2]
        if v is None:  # a record with an error upstream: the run raises before results are read
            v = 0
        keys = _applying(row, psn, counters, used, seed)
        result = settle(v, keys, used)
        if keep:
            after: list = [None] * n
            for j, key, _, _ in keys:
                after[j] = used[key]
            out.append((row_no, result, *after))
        else:
            out.append((row_no, result))
    return out


_Key = tuple[int, tuple, int, int]  # (counter index, ledger key, used before, amount)


def _applying(row: tuple, psn: object, counters: tuple, used: dict, seed: dict) -> list[_Key]:
    """The counters that apply to the row, with what each had used before it (the amounts of
    earlier rows in this call, else of earlier calls)."""
    keys = []
    for j in range(len(counters)):
        applies, bucket, each, amount = row[3 + 4 * j : 7 + 4 * j]
        if applies:
            key = (psn, counters[j], bucket, each)
            before = used.get(key)
            if before is None:
                before = seed.get(key, 0)
            keys.append((j, key, before, amount or 0))
    return keys


def _consume(v: int, keys: list[_Key], used: dict) -> int:
    """A deductible: the first that applies takes what it has room for (0: none applies)."""
    if not keys:
        return 0
    _, key, before, amount = keys[0]
    result = max(0, min(v, amount - before))
    used[key] = before + result
    return result


def _limit(v: int, keys: list[_Key], used: dict) -> int:
    """Caps: ``v`` cut to the room of every cap that applies, each charged the result."""
    result = v
    for _, _, before, amount in keys:
        room = max(0, amount - before)
        if result > room:
            result = room
    for _, key, before, _ in keys:
        used[key] = before + result
    return result
