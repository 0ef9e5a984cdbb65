"""The trace builders of the generated scalar backend, generated as Python source too.

The generated settle function records a visit's trace steps in one tuple: the id of
the function building the whole trace, then for each step its builder's id and its
numbers and texts.  Reading a result's trace turns each record into a ``TraceStep``
through its builder.  Each builder is one small function generated for one place in
the program, its constant parts inlined: the field, the rule, clause, quote and
formula, the names of its inputs.  It unpacks its record, formats each number once
(money from fen, ratios and points from 1/10000, read fields as written, each text
kept per value) and builds the step in one go: no keyword arguments, no dictionaries
merged, no ``Decimal`` for a number already formatted before.

The constant parts come from the runtime's own ``tr_*`` functions, called once at
code generation on zeros (the *template* of a step): the field a step explains and
the names of its inputs are written in one place, and every backend's trace stays
the same (tests/test_backends.py compares them with the reference's).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Iterable, Sequence

from .. import ir
from ..ir.evaluate import CTX
from ..runtime import (
    ZERO,
    TraceStep,
    _s,
    exact_text,
    fen_text,
    percent,
    points_text,
    tr_account_pay,
    tr_adjust,
    tr_let_fen,
    tr_no_deductible,
    tr_ratio,
    tr_share,
    tr_stopped,
)
from ..runtime import _FEN_TEXTS, _plain

CACHED = 200_000  # at most this many texts kept per kind of number (as runtime.fen_text)


def _memo(
    compute: Callable[[int], str],
) -> tuple[Callable[[int], str | None], Callable[[int], str]]:
    """``(get, miss)`` of a cache of texts of integers: ``get(x) or miss(x)`` is
    ``compute(x)``, computed once per value."""
    cache: dict[int, str] = {}

    def miss(x: int) -> str:
        got = compute(x)
        if len(cache) < CACHED:
            cache[x] = got
        return got

    return cache.get, miss


def unscaled(x: int, scale: int) -> Decimal:
    """An integer count of 10**-scale as an exact Decimal."""
    return Decimal(x).scaleb(-scale, CTX)


def exact_e6(x: int) -> str:
    """``exact_text`` of an amount in 1/10**6 yuan (fen x 1/10000): every decimal it has,
    at least two; in integers."""
    if not -(10**40) < x < 10**40:  # beyond any amount a record can give: the Decimal way
        return exact_text(unscaled(x, 6))
    whole, part = divmod(-x if x < 0 else x, 1_000_000)
    decimals = ("%06d" % part).rstrip("0")
    text = "%d.%s" % (whole, decimals if len(decimals) >= 2 else decimals.ljust(2, "0"))
    return "-" + text if x < 0 else text


def read_shower(scale: int) -> Callable[[Any], Any]:
    """How a read field at ``scale`` is shown: an integer as the exact number it counts
    (``format`` of the Decimal, no trailing zeros), anything else as ``runtime._s``."""
    get, miss = _memo(lambda x: format(_plain(unscaled(x, scale)), "f"))

    def show(x: Any) -> Any:
        if type(x) is int:
            return get(x) or miss(x)
        return _s(x)

    return show


_PCT_GET, _PCT = _memo(lambda x: percent(unscaled(x, 4)))
_PTS_GET, _PTS = _memo(lambda x: points_text(unscaled(x, 4)))

# what the generated builders call, besides their own constants
HELPERS: dict[str, Any] = {
    "_new": tuple.__new__,
    "_TS": TraceStep,
    "_fg": _FEN_TEXTS.get,  # fen_text's own cache, read inline: "_fg(x) or _ft(x)"
    "_ft": fen_text,
    "_pg": _PCT_GET,
    "_pct": _PCT,
    "_qg": _PTS_GET,
    "_pts": _PTS,
    "_x6": exact_e6,
    "_s": _s,
}


def _money(name: str) -> str:
    return f"(_fg({name}) or _ft({name}))"


def _pct_code(name: str) -> str:
    return f"(_pg({name}) or _pct({name}))"


def _prov_parts(prov: ir.Prov | None) -> tuple[str, str | None, str | None, str | None]:
    """(rule, clause, quote, unstated) of a step, as ``TraceStep.of`` shows them."""
    if prov is None:
        return ("computed", None, None, None)
    return (prov.rule, prov.clause, prov.quote, prov.unstated)


Recipe = Callable[["TraceSource"], int]


class TraceSource:
    """The builders of one generated program: ``add`` one per place a step is recorded
    (its id is the first item of the record made there), then ``materializers``.
    ``provs``: the generated program's table of provenances, which a recorded row index
    refers to (read when the builders are compiled)."""

    def __init__(self, provs: Sequence[ir.Prov]) -> None:
        self.provs = provs
        self.lines: list[str] = []
        self.ns: dict[str, Any] = dict(HELPERS)
        self.count = 0
        self.fields: list[str] = []  # the field each builder's step explains
        self.sizes: list[int] = []  # how many items each builder's record has (its id too)
        self._shown: dict[int, str] = {}

    # -- pieces of source
    def const(self, value: object) -> str:
        name = f"_c{len(self.ns)}"
        self.ns[name] = value
        return name

    def show_read(self, name: str, scale: int | None) -> str:
        """Code showing a read field's value held in ``name``."""
        if scale is None:
            return f"({name} if type({name}) is str else _s({name}))"
        if scale not in self._shown:
            self._shown[scale] = self.const(read_shower(scale))
        return f"{self._shown[scale]}({name})"

    def add(self, field: str, params: Sequence[str], body: Iterable[str]) -> int:
        """A builder of a step explaining ``field`` from the record ``id, *params`` at ``i``
        in a visit's records ``t``: ``body`` computes the steps and ``app``-ends them; the
        builder returns where the next record starts."""
        n = self.count
        self.count += 1
        self.fields.append(field)
        self.sizes.append(1 + len(params))
        self.lines.append(f"def _b{n}(t, i, app):")
        if params:
            self.lines.append(f"    {', '.join(['_', *params])}, = t[i : i + {1 + len(params)}]")
        self.lines.extend("    " + line for line in body)
        self.lines.append(f"    return i + {1 + len(params)}")
        return n

    def step(
        self,
        template: TraceStep,
        value: str,
        inputs: Sequence[tuple[str, str]],
        dynamic: bool = False,
    ) -> list[str]:
        """Source lines appending ``template`` with ``value`` and ``inputs`` (key, code)
        computed; ``dynamic``: the provenance is the row's (``r``), when a row gave one."""
        body = ", ".join(f"{k!r}: {code}" for k, code in inputs)
        tail = f"{{{body}}}, {template.formula!r})))"
        if dynamic:
            parts = f"{self.const(template[2:6])} if r is None else _PROVS[r]"
            return [
                f"rule, clause, quote, unstated = {parts}",
                f"app(_new(_TS, ({template.field!r}, {value}, rule, clause, quote, unstated, "
                + tail,
            ]
        parts = ", ".join(repr(x) for x in template[2:6])
        return [f"app(_new(_TS, ({template.field!r}, {value}, {parts}, " + tail]

    def reads(self, names: Sequence[str], scales: Sequence[int | None]) -> list[tuple[str, str]]:
        return [
            (name, self.show_read(f"x{j}", sc))
            for j, (name, sc) in enumerate(zip(names, scales, strict=True))
        ]

    def constant(self, step: TraceStep) -> int:
        """A step that never changes (its inputs empty and shared): the same one each time."""
        return self.add(step.field, [], [f"app({self.const(step)})"])

    def wrap(self, build: Callable[..., Any], field: str, arity: int, multi: bool = False) -> int:
        """A builder that is a Python function of the ``arity`` recorded numbers (for rare
        steps); ``multi``: it gives a list of steps."""
        params = [f"x{j}" for j in range(arity)]
        call = f"{self.const(build)}({', '.join(params)})"
        return self.add(field, params, [f"for s in {call}: app(s)" if multi else f"app({call})"])

    # -- the steps
    def let(self, s: ir.Let, names: Sequence[str]) -> int:
        if s.prov is None:  # a step without provenance is not traced (Builder.steps)
            raise TypeError(s)
        t = tr_let_fen(s.var, 0, s.prov, s.formula, (), ())
        xs = [f"x{j}" for j in range(len(names))]
        inputs = [(n, _money(x)) for n, x in zip(names, xs, strict=True)]
        return self.add(t.field, ["v", *xs], self.step(t, _money("v"), inputs))

    def gate_deductible(self, s: ir.Gate) -> int:
        """The first step of a gate that stopped the fund: no deductible applies."""
        return self.constant(tr_stopped(s.reason, s.prov, {})[0])

    def gate(self, s: ir.Gate, scales: Sequence[int | None]) -> int:
        """The second: the fund pays nothing, and the fields the gate read."""
        t = tr_stopped(s.reason, s.prov, {})[1]
        inputs = self.reads(s.reads, scales)
        xs = [f"x{j}" for j in range(len(s.reads))]
        return self.add(t.field, xs, self.step(t, repr(t.value), inputs))

    def counter(
        self, template: TraceStep, names: Sequence[str], scales: Sequence[int | None]
    ) -> int:
        """A deductible's or a cap's step (``template``: its ``tr_consume`` or ``tr_cap`` on
        zeros): its amount, the provenance of the row that gave its limit, its three
        numbers, then the fields that decided it."""
        keys = list(template.inputs)
        inputs = [(keys[0], _money("a")), (keys[1], _money("b")), (keys[2], _money("c"))]
        inputs += self.reads(names, scales)
        xs = [f"x{j}" for j in range(len(names))]
        source = self.step(template, _money("v"), inputs, dynamic=True)
        return self.add(template.field, ["v", "r", "a", "b", "c", *xs], source)

    def ratio(self, s: ir.Ratio, names: Sequence[str], scales: Sequence[int | None]) -> int:
        t = tr_ratio(ZERO, s.prov, {}, s.out)
        xs = [f"x{j}" for j in range(len(names))]
        source = self.step(t, _pct_code("v"), self.reads(names, scales), dynamic=True)
        return self.add(t.field, ["v", "r", *xs], source)

    def adjust(
        self, adj: ir.Adjust, names: Sequence[str], scales: Sequence[int | None], field: str
    ) -> int:
        t = tr_adjust(ZERO, adj, {}, ZERO, field)
        base, points = list(t.inputs)
        inputs = [(base, "(_pg(v - p) or _pct(v - p))"), (points, "(_qg(p) or _pts(p))")]
        inputs += self.reads(names, scales)
        xs = [f"x{j}" for j in range(len(names))]
        return self.add(t.field, ["v", "p", *xs], self.step(t, _pct_code("v"), inputs))

    def share(self, s: ir.Share, field: str) -> int:
        t = tr_share(ZERO, s.rounding.prov, ZERO, None if s.exact else ZERO, ZERO, field)
        base, ratio, exact = list(t.inputs)
        shown = repr(t.inputs[ratio]) if s.exact else _pct_code("q")
        inputs = [(base, _money("b")), (ratio, shown), (exact, "_x6(x)")]
        return self.add(t.field, ["v", "b", "q", "x"], self.step(t, _money("v"), inputs))

    def account_pay(self, s: ir.AccountPay) -> int:
        if s.prov is None:  # the settle program gives account_pay a provenance when it may pay
            raise TypeError(s)
        t = tr_account_pay(ZERO, s.prov, ZERO, ZERO)
        before, payable = list(t.inputs)
        inputs = [(before, _money("b")), (payable, _money("q"))]
        return self.add(t.field, ["v", "b", "q"], self.step(t, _money("v"), inputs))

    # -- compiled
    def materializers(self) -> tuple[Callable[[Any], list], Callable[[Any], list]]:
        """``recorded -> [TraceStep]``, and the same for a visit where no recorded step
        explains act_pay_dedc (``runtime.finish_settle_trace``: the step saying no
        deductible applies goes right after the bill split)."""
        ns = self.ns
        ns["_PROVS"] = tuple(_prov_parts(p) for p in self.provs)
        exec(compile("\n".join(self.lines) + "\n", "<policylang trace builders>", "exec"), ns)  # noqa: S102
        builders = tuple(ns[f"_b{i}"] for i in range(self.count))
        nothing = tr_no_deductible()

        def materialize(recorded: Any) -> list:
            out: list = []
            app = out.append
            i, n = 1, len(recorded)
            while i < n:
                i = builders[recorded[i]](recorded, i, app)
            return out

        def without_deductible(recorded: Any) -> list:
            out = materialize(recorded)
            out.insert(1, nothing)
            return out

        return materialize, without_deductible

    def explains_deductible(self, i: int) -> bool:
        return self.fields[i] == "act_pay_dedc"
