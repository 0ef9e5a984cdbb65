"""Fund simulation: a policy (and a reform) over a year of claims (``policylang simulate``).

The claims are read in batches (Parquet: a file or a folder of them; CSV: every cell read as
text, the bool fields then read as ``true``/``false``), numbered (``row``: the place in the
input, files in name order), and settled with a backend's table path
(``CompiledPolicy.settle_table(engine=...)``).

Memory is bounded by partitioning by person: when the claims would take more than the
memory limit to settle at once, each row goes to bucket ``hash(psn_no) mod K`` (the person as
the settlement reads it: trimmed text), the buckets are written to temporary Arrow files,
and each is settled on its own.  A person's annual counters (deductible, cap, balance) read
only that person's visits, so every result equals settling the whole table at once.

Nothing is half-written: results, the summary and the HTML report go to a temporary folder
beside ``--out``, renamed to it at the end; any error removes it.  Bad rows are reported with
their record number (``row + 1``) and field, every problem of every bucket together.
"""

from __future__ import annotations

import csv
from decimal import Decimal
import math
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal

import attrs

from .errors import PolicylangError
from .inputs import InputError, InputProblem, parse_enum, psn_shown, short
from .vocab import FUNDS

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa

    from . import ir
    from .api import CompiledPolicy
    from .columns import SharedTable
    from .vocabulary import Enumeration, Vocabulary

    Codes: TypeAlias = npt.NDArray[np.int32]  # a key's code of each row
    # report key (month, level, category) -> (code of each row, the label of each code)
    ReportKeys: TypeAlias = dict[str, tuple[Codes, list[str]]]
    Tick: TypeAlias = Callable[[], None]  # one step done
    StartProgress: TypeAlias = Callable[[str, int], Tick]  # (what, how many steps) -> tick

BATCH = 1 << 18  # rows read at a time when partitioning
DISTINCT_FIRST = 1024  # psn_no of more rows than this are hashed one distinct value at a time
# peak bytes per visit while one bucket settles (input, the engine's columns, the results);
# measured on synthetic claims (10 million visits at once took 12 GB: ~1,200 a visit)
BYTES_PER_VISIT = {"columnar": 1500, "duckdb": 1500}
DEFAULT_BYTES_PER_VISIT = 2000  # scalar and reference: Python objects per row
SUMMARY = "summary.json"
# result columns with few distinct values (the rest, ids and amounts, gain nothing from a
# dictionary but the time spent trying)
DICTIONARY = ("psn_no", "setl_time", "pool_prop_selfpay", "reason", "op", "policy", "ir_hash")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_MIX = 0xFF51AFD7ED558CCD


class SimulationError(PolicylangError):
    """The claims or the output folder cannot be used (the message says why)."""


def parse_size(text: str) -> int:
    """``512M``, ``2G``, ``1.5GB``, ``800MiB``, ``1000000`` (bytes) -> bytes."""
    m = _SIZE.match(text)
    if not m:
        raise SimulationError(f"--memory-limit {text!r}: expected a size such as 512M or 2G")
    value = int(Decimal(m.group(1)) * 1024 ** "_kmgt".index(m.group(2).lower() or "_"))
    if value < 1 << 20:
        raise SimulationError(f"--memory-limit {text!r}: at least 1M")
    return value


DEFAULT_LIMIT = 2 << 30


def default_limit() -> int:
    """2 GiB, or half the machine's memory when that is less."""
    try:
        half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return DEFAULT_LIMIT
    return min(DEFAULT_LIMIT, half)


# ---- reading the claims --------------------------------------------------------------------


@attrs.frozen
class Claims:
    files: tuple[Path, ...]
    kind: str  # "parquet" or "csv"
    rows: int | None  # known for Parquet (its metadata); estimated for CSV
    shown: str  # the path as given, for messages


def open_claims(path: str) -> Claims:
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() == ".parquet")
        if not files:
            raise SimulationError(f"{path}: a folder without .parquet files")
        kind = "parquet"
    elif p.is_file():
        files = [p]
        kind = "csv" if p.suffix.lower() in (".csv", ".txt") else "parquet"
    elif p.exists():
        raise SimulationError(f"{path}: not a regular file or folder")  # a FIFO is never read
    else:
        raise SimulationError(f"{path}: no such file or folder")
    if kind == "csv":
        return Claims(tuple(files), kind, max(1, p.stat().st_size // 120), path)
    import pyarrow.parquet as pq

    rows = 0
    for f in files:
        try:
            rows += pq.ParquetFile(f).metadata.num_rows
        except Exception as e:  # noqa: BLE001 - pyarrow's errors for a file that is not Parquet
            raise SimulationError(f"{f}: not a Parquet file ({e})") from None
    return Claims(tuple(files), kind, rows, path)


def _csv_batches(f: Path, shown: str) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(f, "rb") as raw:
        header = raw.readline().decode("utf-8-sig", "replace")
    names: list[str] = next(iter(csv.reader([header])), [])
    options = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=False,
    )
    try:
        reader = pacsv.open_csv(
            f, read_options=pacsv.ReadOptions(block_size=64 << 20), convert_options=options
        )
        yield from reader
    except pa.ArrowInvalid as e:
        raise SimulationError(f"{shown}: not a CSV file this reader understands: {e}") from None


def _batches(claims: Claims) -> Iterator[pa.RecordBatch]:
    """The claims in record batches, files in name order, every one with the first's columns
    and types."""
    first: tuple[Path, pa.Schema] | None = None
    for f, batch in _file_batches(claims):
        if first is None:
            first = (f, batch.schema)
        elif batch.schema != first[1]:
            raise SimulationError(_schema_change(first[0], first[1], f, batch.schema))
        yield batch


def _schema_change(f0: Path, a: pa.Schema, f: Path, b: pa.Schema) -> str:
    types_a = {x.name: str(x.type) for x in a}
    types_b = {x.name: str(x.type) for x in b}
    diff = sorted(n for n in {*types_a, *types_b} if types_a.get(n) != types_b.get(n))
    what = ", ".join(f"{n}: {types_a.get(n, 'absent')} vs {types_b.get(n, 'absent')}" for n in diff)
    return f"{f}: its columns differ from those of {f0} ({what}); give the files one schema"


def _file_batches(claims: Claims) -> Iterator[tuple[Path, pa.RecordBatch]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for f in claims.files:
        if claims.kind == "csv":
            for batch in _csv_batches(f, claims.shown):
                yield f, batch
            continue
        try:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=BATCH):
                yield f, batch
        except (pa.ArrowInvalid, OSError) as e:
            raise SimulationError(f"{f}: cannot be read ({e})") from None


_TRUE = {"true": True, "false": False, "1": True, "0": False}


def _bools(
    batch: pa.RecordBatch, fields: set[str], first: int, problems: list[InputProblem]
) -> pa.RecordBatch:
    """CSV text of the bool fields as bools: true/false (any case) or 1/0."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name in fields & set(batch.schema.names):
        col = batch.column(name)
        if not pa.types.is_string(col.type):
            continue
        low = pc.utf8_lower(pc.utf8_trim_whitespace(col))
        ok = pc.is_in(low, pa.array(list(_TRUE)))
        bad = pc.and_(pc.invert(ok), pc.is_valid(col))
        psn = batch.column("psn_no") if "psn_no" in batch.schema.names else None
        for i in pc.indices_nonzero(bad).to_pylist()[:SHOWN]:
            problems.append(
                InputProblem(
                    first + i + 1,
                    name,
                    f"{short(col[i].as_py())} is not a bool (write true or false)",
                    None if psn is None else psn_shown(psn[i].as_py()),
                )
            )
        value = pc.is_in(low, pa.array(["true", "1"]))
        value = pc.if_else(pc.is_valid(col), value, pa.scalar(None, pa.bool_()))
        batch = batch.set_column(batch.schema.get_field_index(name), name, value)
    return batch


# ---- partitioning by person ------------------------------------------------------------------


def _spaces() -> str:
    """Every character ``str.strip`` removes: the settlement reads a person as ``psn_no``
    trimmed this way, so the bucket must too."""
    import sys

    return "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


_WS: str | None = None


def trimmed(text: pa.Array) -> pa.Array:
    """Text as the settlement reads it, trimmed as ``str.strip`` trims; read as it is when no
    value starts or ends with white space (the usual case: checked on the distinct first and
    last characters, not on every value)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    global _WS
    for start, stop in ((0, 1), (-1, 2**31 - 1)):
        edge = pc.unique(pc.utf8_slice_codeunits(text, start, stop)).to_pylist()
        if any(c is not None and (c == "" or c.isspace()) for c in edge):
            break
    else:
        return text
    if _WS is None:
        _WS = _spaces()
    return pc.utf8_trim(text.cast(pa.string()), _WS)


def buckets_of(psn: pa.Array | pa.ChunkedArray, k: int) -> Codes:
    """Bucket ``0 .. k-1`` of each ``psn_no`` (text or integers), from a hash of the trimmed
    text's UTF-8 bytes that does not depend on the batch or the run."""
    import pyarrow as pa

    if isinstance(psn, pa.ChunkedArray):
        psn = psn.combine_chunks()
    if pa.types.is_dictionary(psn.type):
        psn = psn.dictionary_decode()
    text = psn.cast(pa.string())
    if len(text) > DISTINCT_FIRST:  # a person has several visits: hash each text once
        enc = text.dictionary_encode()
        codes = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
        distinct = pa.concat_arrays([enc.dictionary, pa.array([None], pa.string())])
        return _text_buckets(distinct, k)[codes]
    return _text_buckets(text, k)


def _text_buckets(text: pa.Array, k: int) -> Codes:
    """``buckets_of`` text, value by value."""
    import numpy as np

    text = trimmed(text).fill_null("")
    n = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + n + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    h = np.zeros(n, dtype=np.uint64)
    if len(data):
        starts = (offsets[:-1] - offsets[0]).astype(np.int64)
        pos = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
        powers = np.cumprod(np.full(int(lengths.max()), 1099511628211, dtype=np.uint64))
        terms = (data.astype(np.uint64) + np.uint64(1)) * powers[pos]
        some = lengths > 0
        h[some] = np.add.reduceat(terms, starts[some])
    h ^= h >> np.uint64(33)
    h *= np.uint64(_MIX)
    h ^= h >> np.uint64(33)
    return (h % np.uint64(k)).astype(np.int32)


def how_many_buckets(claims: Claims, engine: str, limit: int) -> int:
    per = BYTES_PER_VISIT.get(engine, DEFAULT_BYTES_PER_VISIT)
    return max(1, math.ceil((claims.rows or 0) * per / limit))


# ---- one bucket ----------------------------------------------------------------------------


@attrs.define
class Tally:
    """What the report sums for one policy: money in fen, counts, by key."""

    visits: int = 0
    persons: int = 0
    medfee: int = 0
    fund: int = 0
    deductible: int = 0
    account: int = 0
    within_deductible: int = 0
    persons_capped: int = 0
    by_month: dict[str, int] = attrs.field(factory=dict)  # fund's outlay (fen) by key
    by_level: dict[str, int] = attrs.field(factory=dict)
    by_category: dict[str, int] = attrs.field(factory=dict)
    # each fund's outlay (fen), by the platform's fund name (hifp, hifob, ...): the funds
    # the policy declares, which sum to ``fund`` (fund_pay_sumamt)
    by_fund: dict[str, int] = attrs.field(factory=dict)
    reasons: dict[str, int] = attrs.field(factory=dict)  # visits by reason ("paid": none)

    def add(self, other: "Tally") -> None:
        for f in (
            "visits",
            "persons",
            "medfee",
            "fund",
            "deductible",
            "account",
            "within_deductible",
            "persons_capped",
        ):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for f in ("by_month", "by_level", "by_category", "by_fund", "reasons"):
            mine = getattr(self, f)
            for k, v in getattr(other, f).items():
                mine[k] = mine.get(k, 0) + v


def _fen64(col: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """A decimal128(18, 2) column (no nulls) as int64 fen, read from its buffer."""
    import numpy as np

    arr = col.combine_chunks() if hasattr(col, "combine_chunks") else col
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64)
    return words[2 * arr.offset : 2 * (arr.offset + len(arr)) : 2]


def _sums(codes: Codes, labels: list[str], fen: npt.NDArray[np.int64]) -> dict[str, int]:
    """Fen summed by key, exactly (int64 sums in Arrow's group-by)."""
    import pyarrow as pa

    got = pa.table({"k": codes, "f": fen}).group_by("k").aggregate([("f", "sum")])
    return {
        labels[k]: int(v)
        for k, v in zip(got.column("k").to_pylist(), got.column("f_sum").to_pylist(), strict=True)
    }


def tally(result: pa.Table, keys: ReportKeys) -> Tally:
    """The report's sums over one bucket's results (``keys``: name -> (codes, labels))."""
    import pyarrow.compute as pc

    reason = result.column("reason")
    fund = _fen64(result.column("fund_pay_sumamt"))
    capped = pc.equal(reason, "cap_reached").fill_null(False)
    counts = pc.value_counts(reason.combine_chunks())
    return Tally(
        visits=result.num_rows,
        persons=pc.count_distinct(result.column("psn_no")).as_py(),
        medfee=int(_fen64(result.column("medfee_sumamt")).sum()),
        fund=int(fund.sum()),
        deductible=int(_fen64(result.column("act_pay_dedc")).sum()),
        account=int(_fen64(result.column("acct_pay")).sum()),
        within_deductible=pc.sum(pc.equal(reason, "within_deductible").fill_null(False)).as_py()
        or 0,
        persons_capped=pc.count_distinct(result.column("psn_no").filter(capped)).as_py(),
        by_month=_sums(*keys["month"], fund),
        by_level=_sums(*keys["level"], fund),
        by_category=_sums(*keys["category"], fund),
        by_fund={
            name: int(_fen64(result.column(field)).sum())
            for name, (field, _) in FUNDS.items()
            if field in result.column_names
        },
        reasons={(c["values"] or "paid"): c["counts"] for c in counts.to_pylist()},
    )


def _months(when: pa.Array | pa.ChunkedArray) -> tuple[Codes, list[str]]:
    """(code per row, ``YYYY-MM`` of each code) of a timestamp, date or text column."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    when = when.combine_chunks() if isinstance(when, pa.ChunkedArray) else when
    if pa.types.is_string(when.type) or pa.types.is_large_string(when.type):
        enc = pc.dictionary_encode(pc.utf8_slice_codeunits(when, 0, 7))
        return enc.indices.to_numpy(), enc.dictionary.to_pylist()
    days = when.cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
    months = days.astype("datetime64[M]").astype(np.int64)
    first = int(months.min()) if len(months) else 0
    codes = (months - first).astype(np.int32)
    labels = [
        str(np.datetime64(first + k, "M")) for k in range(int(codes.max()) + 1 if len(codes) else 0)
    ]
    return codes, labels


def report_keys(result: pa.Table, part: pa.Table, vocab: Vocabulary) -> ReportKeys:
    """Month (``YYYY-MM``), hospital level and person category (``psn_type``, with
    ``+flexible`` for flexible-employment participants) of each row, canonical values, as
    (code per row, label of each code)."""
    import numpy as np
    import pyarrow as pa

    level, level_labels, _ = _canonical(part.column("hosp_lv"), vocab.enums["hosp_lv"])
    kind, kinds, implied = _canonical(part.column("psn_type"), vocab.enums["psn_type"])
    flexible = implied[kind]
    if "flxempe_flag" in part.column_names:
        flag = part.column("flxempe_flag").cast(pa.bool_())
        given = flag.is_valid().to_numpy(zero_copy_only=False)
        value = flag.fill_null(False).to_numpy(zero_copy_only=False)
        flexible = np.where(given, value, flexible)
    categories = [*kinds, *(f"{k}+flexible" for k in kinds)]
    category = (kind + len(kinds) * flexible).astype(np.int32)
    return {
        "month": _months(result.column("setl_time")),
        "level": (level, level_labels),
        "category": (category, categories),
    }


def _canonical(
    col: pa.Array | pa.ChunkedArray, enum: Enumeration
) -> tuple[Codes, list[str], npt.NDArray[np.bool_]]:
    """Each value, alias or code as its canonical value, through the distinct values only:
    (code per row, canonical value of each code, whether each code says flexible
    employment)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    text = col.cast(pa.string()) if not pa.types.is_dictionary(col.type) else col
    enc = pc.dictionary_encode(text).combine_chunks()
    canon: list[str] = []
    implies: list[bool] = []
    for raw in enc.dictionary.to_pylist():
        try:
            value, meaning = parse_enum(enum, raw)
        except Exception:  # noqa: BLE001 - the settlement has already reported a bad value
            value, meaning = str(raw), None
        canon.append(value)
        implies.append(bool(meaning and any(f == "flxempe_flag" and v for f, v in meaning.implies)))
    labels = list(dict.fromkeys(canon))  # aliases and codes of one value: one key
    lut = np.array([labels.index(c) for c in canon], dtype=np.int32)
    codes = lut[enc.indices.to_numpy(zero_copy_only=False)]
    return codes, labels, np.array(implies, dtype=bool)[enc.indices.to_numpy(zero_copy_only=False)]


# ---- the run ----------------------------------------------------------------------------------


@attrs.frozen
class Run:
    """One policy to settle the claims under: ``label`` names its results (baseline, reform)."""

    label: str
    policy: "CompiledPolicy"
    params: dict[str, Any]


@attrs.define
class Outcome:
    claims: str
    engine: str
    buckets: int
    visits: int
    tallies: dict[str, Tally]  # label -> Tally
    policies: dict[str, tuple[str, str]]  # label -> (policy id, IR hash)


def _remap(e: InputError, rows: npt.NDArray[np.int64], shown: str) -> list[InputProblem]:
    """A bucket's problems with the record numbers of the whole input."""
    out: list[InputProblem] = []
    for p in e.problems:
        record = None if p.record is None else int(rows[p.record - 1]) + 1
        out.append(InputProblem(record, p.field, p.message, p.psn_no, shown))
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class _Output:
    """The results folder, written beside ``out`` and renamed to it at the end."""

    def __init__(self, out: Path | None):
        self.out = out
        self.tmp: Path | None = None
        if out is not None:
            if out.exists() and (
                not out.is_dir() or (any(out.iterdir()) and not (out / SUMMARY).exists())
            ):
                raise SimulationError(
                    f"{out}: exists and is not the output of an earlier simulate (no {SUMMARY}); "
                    "give a new or empty folder"
                )
            out.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))

    def write_part(self, label: str, k: int, table: pa.Table) -> None:
        if self.tmp is None:
            return
        import pyarrow.parquet as pq

        folder = self.tmp / label
        folder.mkdir(exist_ok=True)
        pq.write_table(
            table,
            folder / f"part-{k:05d}.parquet",
            compression="snappy",  # zstd took as long as the settlement
            use_dictionary=[c for c in DICTIONARY if c in table.column_names],
            # amounts as Parquet INT64 decimals (read back as decimal128(18, 2)): a fifth
            # less time writing than fixed-length bytes
            store_decimal_as_integer=True,
        )

    def commit(self) -> None:
        if self.tmp is None or self.out is None:
            return
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old.", dir=self.out.parent))
            os.replace(self.out, old / "x")
        os.chmod(self.tmp, 0o777 & ~_umask())  # as a folder made with mkdir would be
        os.replace(self.tmp, self.out)
        self.tmp = None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abandon(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def _bucket_format() -> pa.ipc.IpcWriteOptions:
    """How the buckets are kept on disk until settled: Arrow's own format, compressed with
    zstd (as small as Parquet, several times faster to write and read back)."""
    import pyarrow as pa

    return pa.ipc.IpcWriteOptions(compression="zstd")


def _parts(
    claims: Claims, k: int, bool_fields: set[str], work: Path, step: Tick
) -> Iterator[pa.Table | None]:
    """The claims as ``k`` tables, each with ``row`` (the record's place in the input)."""
    import numpy as np
    import pyarrow as pa

    problems: list[InputProblem] = []
    first = 0
    if k == 1:
        batches: list[pa.RecordBatch] = []
        for batch in _batches(claims):
            batch = _bools(batch, bool_fields, first, problems)
            batches.append(
                batch.append_column("row", pa.array(np.arange(first, first + batch.num_rows)))
            )
            first += batch.num_rows
        _raise(problems, claims.shown)
        step()
        yield pa.Table.from_batches(batches) if batches else None
        return
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}  # by bucket
    schemas: dict[int, pa.Schema] = {}  # each writer's
    try:
        for batch in _batches(claims):
            batch = _bools(batch, bool_fields, first, problems)
            rows = pa.array(np.arange(first, first + batch.num_rows))
            batch = batch.append_column("row", rows)
            which = (
                buckets_of(batch.column("psn_no"), k)
                if "psn_no" in batch.schema.names
                else np.zeros(batch.num_rows, np.int32)
            )
            table = pa.Table.from_batches([batch])
            order = np.argsort(which, kind="stable")
            cuts = np.searchsorted(which[order], np.arange(k + 1))
            for b in range(k):
                if cuts[b] == cuts[b + 1]:
                    continue
                piece = table.take(pa.array(order[cuts[b] : cuts[b + 1]]))
                w = writers.get(b)
                if w is None:
                    w = writers[b] = pa.ipc.new_file(
                        work / f"bucket-{b:05d}.arrow", piece.schema, options=_bucket_format()
                    )
                    schemas[b] = piece.schema
                w.write_table(piece.cast(schemas[b]) if piece.schema != schemas[b] else piece)
            first += batch.num_rows
    finally:
        for w in writers.values():
            w.close()
    _raise(problems, claims.shown)
    step()
    release_memory()
    for b in range(k):
        path = work / f"bucket-{b:05d}.arrow"
        if path.exists():
            with pa.OSFile(str(path)) as f:
                table = pa.ipc.open_file(f).read_all()
            path.unlink()
            yield table


SHOWN = 100  # problems reported at most (a bad column of ten million rows is one story)


def _at_most(problems: list[InputProblem]) -> list[InputProblem]:
    problems = sorted(problems, key=lambda p: (p.record or 0, p.field))
    if len(problems) <= SHOWN:
        return problems
    more = len(problems) - SHOWN
    shown = problems[0].source
    return [
        *problems[:SHOWN],
        InputProblem(None, "(claims)", f"and {more:,} more problems not shown", source=shown),
    ]


def _raise(problems: list[InputProblem], shown: str) -> None:
    if problems:
        raise InputError(
            _at_most(
                [InputProblem(p.record, p.field, p.message, p.psn_no, shown) for p in problems]
            )
        )


def simulate(
    runs: list[Run],
    claims_path: str,
    engine: str = "columnar",
    out: Path | None = None,
    memory_limit: int | None = None,
    progress: StartProgress | None = None,
    finish: Callable[["Outcome", Path], None] | None = None,
) -> Outcome:
    """Settle the claims under each run's policy; the sums of the report.  ``progress(what,
    total)`` gives a function called once per step done; ``finish(folder)`` writes the
    report's files into the results folder before it is renamed into place."""
    claims = open_claims(claims_path)
    limit = memory_limit or default_limit()
    k = how_many_buckets(claims, engine, limit)
    functions = {r.label: r.policy.table_engine(engine) for r in runs}
    for fn in functions.values():
        limit_memory = getattr(getattr(fn, "__self__", None), "limit_memory", None)
        if limit_memory is not None:
            limit_memory(limit)
    bool_fields = {
        name for r in runs for name, t in _field_types(r.policy.ir).items() if t == "bool"
    }
    tick = progress("settle", k * len(runs) + 1) if progress else (lambda: None)
    output = _Output(out)
    tallies = {r.label: Tally() for r in runs}
    problems: list[InputProblem] = []
    visits = 0
    try:
        with tempfile.TemporaryDirectory(
            prefix="policylang-sim-", dir=(out.parent if out else None)
        ) as work:
            for b, part in enumerate(_parts(claims, k, bool_fields, Path(work), tick)):
                if part is None:
                    continue
                visits += part.num_rows
                _settle_part(runs, engine, part, b, output, tallies, problems, claims.shown, tick)
        if problems:
            raise InputError(_at_most(problems))
        outcome = Outcome(
            claims.shown,
            engine,
            k,
            visits,
            tallies,
            {r.label: (r.policy.id, r.policy.hash) for r in runs},
        )
        if output.tmp is not None and finish is not None:
            finish(outcome, output.tmp)
        output.commit()
        return outcome
    finally:
        output.abandon()


def _field_types(policy: ir.Policy) -> dict[str, str]:
    from .columns import field_types

    return field_types(policy)


def _settle_part(
    runs: list[Run],
    engine: str,
    part: pa.Table,
    b: int,
    output: _Output,
    tallies: dict[str, Tally],
    problems: list[InputProblem],
    shown: str,
    tick: Tick,
) -> None:
    rows = part.column("row").combine_chunks()
    visits = part.drop_columns(["row"])
    known = {r.label: set(_field_types(r.policy.ir)) for r in runs}
    anyone = set().union(*known.values())
    ids = _identifiers(visits, rows, shown, problems)
    keys: ReportKeys | None = None
    shared: list[SharedTable] = []  # one reading for all the runs' policies that read alike
    for r in runs:
        # a column only another run's policy declares (an input the reform adds) is not this
        # policy's to refuse; a column no policy declares is refused by each
        mine = visits.drop_columns(
            [c for c in visits.column_names if c in anyone and c not in known[r.label]] + list(ids)
        )
        try:
            result = r.policy.settle_table(_shared(shared, mine, r), r.params, engine=engine)
        except InputError as e:
            problems += _remap(e, rows.to_numpy(), shown)
            tick()
            continue
        if problems:  # an earlier bucket is bad: nothing more is written or summed
            tick()
            continue
        result = result.set_column(0, "row", rows)
        for name, col in ids.items():
            result = result.set_column(result.schema.get_field_index(name), name, col)
        if keys is None:
            keys = report_keys(result, visits, runs[0].policy.ir.vocab)
        tallies[r.label].add(tally(result, keys))
        output.write_part(r.label, b, result)
        del result
        release_memory()
        tick()


def _shared(shared: list[SharedTable], visits: pa.Table, run: Run) -> SharedTable:
    """The table ``run``'s policy reads, read once for every run's policy that reads alike
    (``columns.reader_key``: the same fields, defaults and vocabulary)."""
    from .columns import SharedTable, reader_key

    key = reader_key(run.policy.ir)
    for table in shared:
        if table.key == key:
            return table
    shared.append(SharedTable(visits, key))
    return shared[-1]


# libc's ``malloc_trim``: None until looked up, False where there is none (not glibc)
_TRIM: Callable[[int], int] | Literal[False] | None = None


def release_memory() -> None:
    """Give back what one settlement used before the next: the engines' columns sit in
    reference cycles (freed by the collector, not at once), and both allocators keep freed
    pages unless asked (Arrow's pool; glibc's heap, through ``malloc_trim``)."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    global _TRIM
    if _TRIM is None:
        try:
            _TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc: nothing to trim
            _TRIM = False
    if _TRIM:
        _TRIM(0)


def _identifiers(
    visits: pa.Table, rows: pa.Array, shown: str, problems: list[InputProblem]
) -> dict[str, pa.Array]:
    """``setl_id`` and ``mdtrt_id`` given as text, checked and trimmed here, once, rather than
    by each settlement (they are only echoed, and a column of ten million distinct texts
    costs the table reader as much as the rest): the same values and the same problems."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from . import vocab as V
    from .columns import _bad_message

    out: dict[str, pa.Array] = {}
    for name in ("setl_id", "mdtrt_id"):
        if name not in visits.column_names:
            continue
        col = visits.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            continue  # integers and the rest: the table reader reads them
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        text = trimmed(col.cast(pa.string()))
        empty = pc.and_(pc.is_valid(col), pc.equal(text, ""))
        psn = visits.column("psn_no") if "psn_no" in visits.column_names else None
        for i in pc.indices_nonzero(empty).to_pylist()[:SHOWN]:
            raw = col[i].as_py()
            problems.append(
                InputProblem(
                    int(rows[i].as_py()) + 1,
                    name,
                    _bad_message(V.TEXT, raw, True),
                    None if psn is None else psn_shown(psn[i].as_py()),
                    shown,
                )
            )
        out[name] = text
    return out
