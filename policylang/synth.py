"""Synthetic claims for ``policylang simulate`` (``policylang synth``).

A made-up population of insured persons and their general-outpatient visits, with the JSON
contract's field names, for trying a policy or a reform on a year of claims without real
data.  The distributions are plausible for a Chinese city's employee scheme, not fitted to
any; docs/tools.md lists them.  The same ``seed`` (and the same NumPy) gives the same file:
persons are generated in blocks of ``BLOCK``, each from its own seeded generator, so the
output does not depend on how much is held in memory.

Per person: ``psn_no`` ``P00000001``…; ``psn_type`` retiree with probability 0.28, else
active; ``flxempe_flag`` true with probability 0.08.  Visits per person and year: Poisson
with a Gamma-distributed rate (a negative binomial: most people go a few times, a few go very
often), mean 5 for the active and 11 for retirees.  Per visit: a day uniform in the year and a
time from 08:00 to 17:59 (whole minutes); ``hosp_lv`` unrated 0.15, level1 0.40, level2 0.25,
level3 0.20; ``medfee_sumamt`` log-normal (sigma 0.85) around a median of 60, 110, 190 and 320
yuan by level, between 5 and 30,000 yuan; ``fulamt_ownpay_amt`` 0-30% of the bill on a quarter
of visits, ``overlmt_selfpay`` 0-10% on 5%, ``preselfpay_amt`` 0-15% on 30% (to the fen,
rounded down); ``setl_id`` and ``mdtrt_id`` unique.  Within each block of persons the rows are
in ``setl_time`` order.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    Columns: TypeAlias = dict[str, npt.NDArray[Any]]  # a block's columns by name

BLOCK = 100_000  # persons generated (and written) together
LEVELS = ("unrated", "level1", "level2", "level3")
LEVEL_P = (0.15, 0.40, 0.25, 0.20)
MEDIAN_YUAN = (60.0, 110.0, 190.0, 320.0)
SIGMA = 0.85
RETIREE_P = 0.28
FLEXIBLE_P = 0.08
VISITS_MEAN = {"active": 5.0, "retiree": 11.0}
GAMMA_SHAPE = 1.5
PARTS = (  # (field, share of visits that have it, largest fraction of the bill)
    ("fulamt_ownpay_amt", 0.25, 0.30),
    ("overlmt_selfpay", 0.05, 0.10),
    ("preselfpay_amt", 0.30, 0.15),
)
MIN_FEN, MAX_FEN = 500, 3_000_000


def _block(rng: np.random.Generator, first: int, count: int, years: list[int]) -> Columns:
    """The visits of persons ``first`` .. ``first + count - 1``: a dict of NumPy columns."""
    import numpy as np

    retiree = rng.random(count) < RETIREE_P
    flexible = rng.random(count) < FLEXIBLE_P
    mean = np.where(retiree, VISITS_MEAN["retiree"], VISITS_MEAN["active"])
    per_year = [rng.poisson(rng.gamma(GAMMA_SHAPE, mean / GAMMA_SHAPE)) for _ in years]
    counts = np.stack(per_year, axis=1)  # persons x years
    psn = np.repeat(np.arange(count), counts.sum(axis=1))
    year_of = np.repeat(np.tile(np.array(years), count), counts.reshape(-1))
    n = len(psn)
    start = np.array([dt.date(y, 1, 1).toordinal() for y in years])
    length = np.array([dt.date(y + 1, 1, 1).toordinal() for y in years]) - start
    k = np.searchsorted(np.array(years), year_of)
    day = start[k] + (rng.random(n) * length[k]).astype(np.int64) - dt.date(1970, 1, 1).toordinal()
    minute = rng.integers(8 * 60, 18 * 60, n)
    seconds = day * 86_400 + minute * 60
    level = rng.choice(len(LEVELS), size=n, p=LEVEL_P)
    bill = np.exp(np.log(np.array(MEDIAN_YUAN))[level] + SIGMA * rng.standard_normal(n))
    fen = np.clip(np.round(bill * 100), MIN_FEN, MAX_FEN).astype(np.int64)
    cols: Columns = {"psn": psn, "seconds": seconds, "level": level, "medfee": fen}
    for name, share, most in PARTS:
        has = rng.random(n) < share
        cols[name] = np.where(has, np.floor(fen * most * rng.random(n)), 0).astype(np.int64)
    order = np.lexsort((psn, seconds))
    cols = {k: v[order] for k, v in cols.items()}
    cols["retiree"], cols["flexible"] = retiree[cols["psn"]], flexible[cols["psn"]]
    cols["psn"] = cols["psn"] + first
    return cols


def _table(cols: Columns, serial_start: int) -> pa.Table:
    """The block as an Arrow table in the contract's field names."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from .columns import decimal_array

    n = len(cols["psn"])
    psn_text = pc.utf8_lpad(pa.array(cols["psn"] + 1).cast(pa.string()), 8, "0")
    psn_no = pc.binary_join_element_wise("P", psn_text, "")
    serial = pc.utf8_lpad(
        pa.array(np.arange(serial_start + 1, serial_start + n + 1)).cast(pa.string()), 10, "0"
    )
    table = {
        "psn_no": psn_no,
        "psn_type": pa.DictionaryArray.from_arrays(
            pa.array(cols["retiree"].astype(np.int8)), pa.array(["active", "retiree"])
        ).dictionary_decode(),
        "flxempe_flag": pa.array(cols["flexible"]),
        "setl_time": pa.array(cols["seconds"], pa.timestamp("s")),
        "hosp_lv": pc.take(pa.array(LEVELS), pa.array(cols["level"])),
        "medfee_sumamt": decimal_array(cols["medfee"], 2, 18),
    }
    for name, _, _ in PARTS:
        table[name] = decimal_array(cols[name], 2, 18)
    table["setl_id"] = pc.binary_join_element_wise("S", serial, "")
    table["mdtrt_id"] = pc.binary_join_element_wise("M", serial, "")
    return pa.table(table)


def synth(
    persons: int,
    years: int,
    seed: int,
    out: Path,
    first_year: int = 2023,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write the claims of ``persons`` persons over ``years`` years from ``first_year`` to
    ``out`` (Parquet, or CSV when it ends in .csv), through a temporary file renamed at the
    end; the number of visits written."""
    import numpy as np
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from .atomic import replace_file

    as_csv = out.suffix.lower() == ".csv"
    year_list = list(range(first_year, first_year + years))
    written = 0

    def write(sink: IO[Any]) -> None:
        nonlocal written
        writer = None
        try:
            for b, first in enumerate(range(0, persons, BLOCK)):
                rng = np.random.default_rng([seed, b])
                cols = _block(rng, first, min(BLOCK, persons - first), year_list)
                table = _table(cols, written)
                if writer is None:
                    writer = (
                        pacsv.CSVWriter(sink, table.schema)
                        if as_csv
                        else pq.ParquetWriter(sink, table.schema, compression="zstd")
                    )
                writer.write_table(table)
                written += table.num_rows
                if progress is not None:
                    progress(min(first + BLOCK, persons))
        finally:
            if writer is not None:
                writer.close()

    replace_file(out, write, binary=True)
    from .simulate import _umask

    os.chmod(out, 0o666 & ~_umask())  # as a file opened for writing would be
    return written
