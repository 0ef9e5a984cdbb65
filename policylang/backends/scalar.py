"""The fast scalar backend: Python source generated from the IR program.

Each program becomes one Python function, specialised to the policy (constants
inlined, decision tables on one field turned into dictionary look-ups, one
``if`` per step), compiled once per policy and tracing mode -- as Jinja2 turns
a template into Python.  Arithmetic is on integers: money in fen, ratios and
points in 1/10000, products at the sum of the scales, rounded by the policy's
rule; so no decimal context is involved.  Traces are recorded as the raw numbers
of each step and turned into ``TraceStep``s when read (``scalar_trace``).

Records are validated by a fast path that accepts only the canonical forms
(``"450.00"``, ``"2023-03-01"``, ``"level2"``, an alias or a platform code of the
policy's vocabulary such as ``"二级"`` or ``"1201"``...); anything else falls back to
``inputs.validate_visits``, which reports every problem or returns the typed
records.  The reference interpreter (``backends/reference.py``) keeps this
backend honest: tests/test_backends.py runs both on generated visits.

``Scalar.source(kind)`` returns the generated source, for reading.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import re
from decimal import Decimal
from functools import partial
from typing import Any, Callable, Iterable

from .. import ir
from .. import vocab as V
from ..inputs import (
    PLATFORM_FIELDS,
    VISIT_SPEC,
    InputError,
    InputProblem,
    missing_param,
    setl_time_of,
    setl_time_text,
    validate_persons,
    validate_requests,
    validate_visits,
)
from ..ir.demands import counter_reads, deciding, fields_read
from ..ir.index import TableIndex
from ..ir.serial import content_hash
from ..ir.evaluate import CTX, MissingValue
from ..runtime import (
    SETTLED_AMOUNTS,
    ZERO,
    CreditResult,
    MayPayResult,
    VisitResult,
    credit_result,
    negative_credit,
    may_pay_result,
    percent,
    register_trace_builder,
    settle_message,
    tr_account_not_used,
    tr_account_refused,
    tr_account_unknown,
    tr_band,
    tr_band_adjust,
    tr_bound,
    tr_cap,
    tr_consume,
    tr_credit,
    trace_field,
    yuan,
)
from .common import BadValue, settle_funds, split_bands, time_key
from .scalar_trace import Recipe, TraceSource

SCALE = {V.MONEY: 2, V.PERCENT: 4, V.POINTS: 4, V.NUMBER: 6}
BIG_TABLE = 32  # rows beyond which a table is looked up by field (ir.index) instead of row by row
MODES = ("half_up", "half_even", "down", "up")


class NoRowError(Exception):
    pass


class _Slow(Exception):
    """The fast input path met something it does not handle: use the general one."""


# ---- integer arithmetic helpers used by generated code ---------------------------------


def round_units(x: int, unit: int, mode: str) -> int:
    """``x`` rounded to a multiple of ``unit`` (> 0), as a count of units."""
    neg = x < 0
    n, r = divmod(-x if neg else x, unit)
    if mode == "half_up":
        n += 2 * r >= unit
    elif mode == "half_even":
        n += 2 * r > unit or (2 * r == unit and n % 2 == 1)
    elif mode == "up":
        n += r > 0
    return -n if neg else n


def scaled(d: Decimal | None, scale: int, what: str) -> Any:
    """An exact Decimal as an integer count of 10**-scale (None stays None); more decimals is
    an error."""
    if d is None:
        return None
    v = d.scaleb(scale, CTX)
    if v != v.to_integral_value(context=CTX):
        raise BadValue(f"{what} has more than {scale} decimals")
    return int(v)


def D(x: int, scale: int) -> Decimal:
    return Decimal(x).scaleb(-scale, CTX)


# ---- the code generator -----------------------------------------------------------------


class Gen:
    """Emits Python source for one program; constants go into the namespace ``ns``."""

    def __init__(self, policy: ir.Policy, program: ir.Program, tracing: bool):
        self.policy, self.program, self.tracing = policy, program, tracing
        self.lines: list[str] = []
        self.depth = 0
        self.ns: dict[str, Any] = {}
        self._consts: dict[Any, str] = {}
        self.provs: list[ir.Prov] = []
        self._prov_at: dict[int, int] = {}  # id(prov) -> its index (provs keeps them alive)
        self.tb = TraceSource(self.provs)
        self.counter_index = {c.id: i for i, c in enumerate(program.counters)}
        self.counters = {c.id: c for c in program.counters}
        self.var_types = {name: t for name, t, _ in program.variables}
        fields = {
            **V.VISIT_FIELDS,
            **V.PERSON_FIELDS,
            **V.REQUEST_FIELDS,
            **{k: t for k, (t, _) in policy.inputs.items()},
        }
        self.field_scale = {k: SCALE.get(t) for k, t in fields.items()}
        from ..inputs import PERSON_SPEC, REQUEST_SPEC

        self.nullable = {
            k
            for spec in (VISIT_SPEC, PERSON_SPEC, REQUEST_SPEC)
            for k, fs in spec.items()
            if not fs.required and fs.default is None and k != "venue"
        }
        self.nullable |= {k for k, (_, default) in policy.inputs.items() if default is None}
        self._tmp = 0

    # -- output
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def const(self, value: object, hint: str = "k") -> str:
        key = (
            (type(value).__name__, repr(value))
            if not isinstance(value, (ir.Prov, ir.Adjust, ir.Verdict))
            else id(value)
        )
        if key not in self._consts:
            name = f"_{hint}{len(self._consts)}"
            self._consts[key] = name
            self.ns[name] = value
        return self._consts[key]

    def tmp(self, hint: str = "t") -> str:
        self._tmp += 1
        return f"{hint}{self._tmp}"

    def prov_index(self, prov: ir.Prov) -> int:
        """Provenance travels through generated code as an index into ``self.provs``."""
        i = self._prov_at.get(id(prov))
        if i is None:
            i = self._prov_at[id(prov)] = len(self.provs)
            self.provs.append(prov)
        return i

    def trace(self, recipe: Recipe, *args: str) -> None:
        """Record a trace entry: ``recipe`` adds its builder to ``self.tb`` (scalar_trace),
        which makes a ``TraceStep`` of the entry when the trace is read.  A visit's entries
        follow one another in one list, ``tr``, each its builder's id then its numbers and
        texts; the result keeps it as one tuple (few objects for the garbage collector to
        look at, however many results are kept).  ``tr[0]`` is the id of the function
        building the whole trace: the one adding the step saying no deductible applies,
        until a step explaining the deductible is recorded."""
        if not self.tracing:
            self.emit("pass")
            return
        i = recipe(self.tb)
        if self.tb.sizes[i] != 1 + len(args):
            raise AssertionError(f"trace builder {i} reads {self.tb.sizes[i]} items, not {args}")
        self.emit(f"tr += ({', '.join([str(i), *args])},)" if args else f"tr.append({i})")
        if self.tb.explains_deductible(i):
            self.emit("tr[0] = TRACE_ID")

    # -- expressions: (code, scale) with integers for numbers
    def expr(self, e: ir.Expr) -> tuple[str, int | None]:
        if type(e) is ir.Const:
            return self.const_expr(e)
        if type(e) is ir.Field:
            if (
                e.name in self.nullable
            ):  # absent in some records: reading it then is an error in the record
                return f"_need(f_{e.name}, {e.name!r})", SCALE.get(e.type)
            return f"f_{e.name}", SCALE.get(e.type)
        if type(e) is ir.Var:
            return f"v_{e.name}", SCALE.get(e.type)
        if type(e) is ir.Param:
            return f"P[{e.name!r}]", SCALE.get(e.type)
        if type(e) is ir.Arith:
            (lc, ls), (rc, rs) = self.expr(e.left), self.expr(e.right)
            if e.op == "*":
                return f"({lc} * {rc})", (ls or 0) + (rs or 0)
            lc, rc, s = _align(lc, ls, rc, rs)
            return f"({lc} {e.op} {rc})", s
        raise TypeError(e)

    def const_expr(self, e: ir.Const) -> tuple[str, int | None]:
        """A constant: a number as an integer at its scale (a NUMBER at its own), anything
        else as a named constant."""
        scale = SCALE.get(e.type)
        if scale is None:
            return self.const(e.value), None
        value = e.value
        if not isinstance(value, Decimal):  # every scaled type holds a Decimal
            raise TypeError(e)
        if e.type == V.NUMBER:
            exponent = value.as_tuple().exponent
            if not isinstance(exponent, int):  # a finite number, always
                raise TypeError(e)
            scale = max(0, -exponent)
        return str(int(value.scaleb(scale, CTX))), scale

    def cond(self, x: ir.Cond) -> str:
        if type(x) is ir.Cmp:
            (lc, ls), (rc, rs) = self.expr(x.left), self.expr(x.right)
            if ls is not None or rs is not None:
                lc, rc, _ = _align(lc, ls, rc, rs)
            op = "==" if x.op == "=" else x.op
            return f"({lc} {op} {rc})"
        if type(x) is ir.InSet:
            code, _ = self.expr(x.operand)
            return f"({code} in {self.const(frozenset(x.values), 's')})"
        if type(x) is ir.AllOf:
            return (
                "True" if not x.items else "(" + " and ".join(self.cond(i) for i in x.items) + ")"
            )
        if type(x) is ir.AnyOf:
            return (
                "False" if not x.items else "(" + " or ".join(self.cond(i) for i in x.items) + ")"
            )
        if type(x) is ir.Negate:
            return f"(not {self.cond(x.item)})"
        if type(x) is ir.Present:
            return f"(f_{x.field} is not None)"
        raise TypeError(x)

    def value(self, v: ir.Value, target: str, prov_target: str | None, scale: int | None) -> None:
        """Emit ``target = value`` (at ``scale``) and ``prov_target =`` the row's provenance."""
        if not isinstance(v, ir.Decide):
            code, s = self.expr(v)
            self.emit(f"{target} = {_rescale(code, s, scale)}")
            if prov_target:
                self.emit(f"{prov_target} = None")
            return
        table = _single_field_table(v)
        if table is not None:
            field, mapping = table
            consts = {}
            for key, arm in mapping.items():
                code, s = self.expr(arm.value)
                consts[key] = (
                    eval(_rescale(code, s, scale), dict(self.ns)),
                    self.prov_index(arm.prov),
                )
            d = self.const(consts, "tbl")
            self.emit(f"{target}, {prov_target or '_'} = {d}[{self.expr(field)[0]}]")
            return
        index = TableIndex.of(v) if len(v.arms) > BIG_TABLE else None
        if (
            index is not None
        ):  # a long if/elif chain would be slow, and too deep for Python's compiler
            values = []
            for arm in v.arms:
                code, s_ = self.expr(arm.value)
                values.append(eval(_rescale(code, s_, scale), dict(self.ns)))
            table = self.const(
                (index, tuple(values), tuple(self.prov_index(a.prov) for a in v.arms)), "big"
            )
            fields = ", ".join(f"{f!r}: {self.expr(ir.Field(f, V.TEXT))[0]}" for f in index.fields)
            self.emit(f"t_ = {table}[0].first_index({{{fields}}})")
            self.emit("if t_ is None: raise NoRowError()")
            self.emit(f"{target} = {table}[1][t_]")
            if prov_target:
                self.emit(f"{prov_target} = {table}[2][t_]")
            return
        first = True
        for arm in v.arms:
            cond = self.cond(arm.when)
            self.emit(f"{'if' if first else 'elif'} {cond}:")
            first = False
            self.depth += 1
            code, s = self.expr(arm.value)
            self.emit(f"{target} = {_rescale(code, s, scale)}")
            if prov_target:
                self.emit(f"{prov_target} = {self.prov_index(arm.prov)}")
            self.depth -= 1
        self.emit("else:")
        self.emit("    raise NoRowError()")

    # -- steps
    def blocks(self, date_var: str, when_none: Callable[[], None] | None = None) -> None:
        """Choose the block in force on ``date_var`` (BLOCKS: latest start first) and emit
        each block's steps; ``when_none`` emits what happens when no block is in force."""
        self.emit("blk = -1")
        self.emit("for start, until, b in BLOCKS:")
        self.emit(f"    if start <= {date_var} and (until is None or {date_var} <= until):")
        self.emit("        blk = b")
        self.emit("        break")
        for b_index, block in enumerate(self.program.blocks):
            self.emit(f"{'if' if b_index == 0 else 'elif'} blk == {b_index}:")
            self.depth += 1
            self.steps(block.steps)
            self.emit("pass")
            self.depth -= 1
        if when_none is not None:
            self.emit("else:" if self.program.blocks else "if True:")
            self.depth += 1
            when_none()
            self.depth -= 1

    def steps(self, steps: Iterable[Any]) -> None:
        """Emit steps; a Gate opens an ``else`` that holds the rest of the block."""
        opened = 0
        for step in steps:
            if STEP_EMITTERS[type(step)](self, step):
                opened += 1
        if opened:
            self.emit("pass")
        self.depth -= opened

    def let(self, s: ir.Let) -> None:
        code, sc = self.expr(s.expr)
        self.emit(
            f"v_{s.var} = {_rescale(code, sc, SCALE.get(self.var_types.get(s.var, V.MONEY)))}"
        )
        if s.prov is not None:
            names = fields_read(s.expr) + tuple(n for n in _vars_read(s.expr))
            self.trace(
                lambda t: t.let(s, names), f"v_{s.var}", *(self._name_code(n) for n in names)
            )

    def scales(self, fields: Iterable[str]) -> tuple:
        return tuple(self.field_scale.get(f) for f in fields)

    def _name_code(self, name: str) -> str:
        return f"v_{name}" if name in self.var_types else f"f_{name}"

    def gate(self, s: ir.Gate) -> bool:
        self.emit(f"if not {self.cond(s.cond)}:")
        self.depth += 1
        self.emit(f"reason = {s.reason!r}")
        self.trace(lambda t: t.gate_deductible(s))
        scales = self.scales(s.reads)
        self.trace(lambda t: t.gate(s, scales), *(f"f_{f}" for f in s.reads))
        self.depth -= 1
        self.emit("else:")
        self.depth += 1
        return True

    def key(self, counter_id: str) -> str | None:
        """The ledger key of a counter for this visit, ``(psn, id, bucket, each value)``;
        None for a counter per visit, which starts at 0 and is never kept."""
        c = self.counters[counter_id]
        if c.period == "visit":
            return None
        bucket = {"year": "d.year", "month": "(d.year, d.month)", "day": "d"}[c.period]
        each = f"f_{c.each}" if c.each else "None"
        return f"(psn, {counter_id!r}, {bucket}, {each})"

    def read(self, counter_id: str, key_var: str, before_var: str) -> None:
        key = self.key(counter_id)
        if key is None:
            self.emit(f"{key_var} = None")
            self.emit(f"{before_var} = 0")
        else:
            self.emit(f"{key_var} = {key}")
            self.emit(f"{before_var} = used.get({key_var}, 0)")

    def charge(self, counter_id: str, key_var: str, before_var: str, amount: str) -> None:
        """``used[key] = before + amount``, journaled for the ledger when asked."""
        if self.key(counter_id) is None:
            return
        self.emit(f"used[{key_var}] = {before_var} + {amount}")
        self.emit(f"if J is not None: J.append((i, {key_var}, {amount}))")

    def counter_trace(
        self,
        trace_step: Callable[..., Any],
        step: ir.Consume | ir.CapUse,
        value: str,
        before: str,
        other: str,
    ) -> None:
        """The trace of a deductible (``step``: Consume) or a cap (CapUse) that applied: its
        numbers, then the fields that decided its amount."""
        reads = counter_reads(step.amount, step.when, self.counters[step.counter].each)
        template = trace_step(ZERO, step.prov, ZERO, ZERO, ZERO)
        scales = self.scales(reads)
        self.trace(
            lambda t: t.counter(template, reads, scales),
            value,
            "rp",
            "amt",
            before,
            other,
            *(f"f_{f}" for f in reads),
        )

    def consume(self, s: ir.Consume) -> None:
        self.emit(f"if {self.cond(s.when)}:")
        self.depth += 1
        self.value(s.amount, "amt", "rp", 2)
        self.read(s.counter, "k", "before")
        self.emit("take = amt - before")
        self.emit(f"if take > v_{s.base}: take = v_{s.base}")
        self.emit("if take < 0: take = 0")
        self.charge(s.counter, "k", "before", "take")
        self.emit(f"v_{s.base} -= take")
        self.emit(f"v_{s.out} += take")
        self.counter_trace(
            partial(tr_consume, field=trace_field(s.out)), s, "take", "before", "v_inscp_scp_amt"
        )
        self.depth -= 1

    def points(self, adj: ir.Adjust) -> str:
        """An adjustment's points in 1/10000: a constant, or its expression over parameters."""
        if isinstance(adj.points, Decimal):
            return str(int(adj.points.scaleb(4, CTX)))
        code, sc = self.expr(adj.points)
        return f"({_rescale(code, sc, 4)})"

    def ratio(self, s: ir.Ratio) -> None:
        self.value(s.value, f"v_{s.out}", "rp", 4)
        reads = deciding(s)
        scales = self.scales(reads)
        self.trace(
            lambda t: t.ratio(s, reads, scales),
            f"v_{s.out}",
            "rp",
            *(f"f_{f}" for f in reads),
        )
        for adj in s.adjustments:
            self.emit(f"if {self.cond(adj.when)}:")
            self.depth += 1
            self.emit(f"pts = {self.points(adj)}")
            self.emit(f"v_{s.out} += pts")
            reads = fields_read(adj.when)
            self.trace(
                partial(
                    TraceSource.adjust, adj=adj, names=reads, scales=self.scales(reads), field=s.out
                ),
                f"v_{s.out}",
                "pts",
                *(f"f_{f}" for f in reads),
            )
            self.depth -= 1
        self.emit(f"if not 0 <= v_{s.out} <= 10000: raise BadValue(_ratio_msg(v_{s.out}))")
        for b in s.bounds:
            self.value(b.value, "lim", None, 4)
            op = "<" if b.kind == "floor" else ">"
            self.emit(f"if v_{s.out} {op} lim:")
            self.depth += 1
            recipe = partial(TraceSource.wrap, build=_bound_tracer(b), field="ratio", arity=2)
            self.trace(recipe, "lim", f"v_{s.out}")
            self.emit(f"v_{s.out} = lim")
            self.depth -= 1

    def band_share(self, s: ir.BandShare) -> None:
        b = s.bands
        limits = tuple(None if x is None else int(x.scaleb(2, CTX)) for x in b.limits)
        values = tuple(int(x.scaleb(4, CTX)) for x in b.values)
        self.read(s.counter, "k", "prior")
        self.emit("pts = 0")
        for adj in s.adjustments:
            self.emit(f"if {self.cond(adj.when)}: pts += {self.points(adj)}")
        self.emit(
            f"v_{s.exact}, v_{s.ratio}, parts = _bands({self.const(limits)}, "
            f"{self.const(values)}, pts, prior, "
            f"v_{s.base})"
        )
        self.charge(s.counter, "k", "prior", f"v_{s.base}")
        scales = [self.scales(fields_read(a.when)) for a in s.adjustments]
        self.trace(
            lambda t: t.wrap(_bands_tracer(s, scales), "ratio", 3 + len(scales), multi=True),
            "parts",
            "prior",
            "pts",
            *(
                f"({self.cond(a.when)}, {self.points(a)}, "
                + "".join(f"f_{f}, " for f in fields_read(a.when))
                + ")"
                for a in s.adjustments
            ),
        )

    def share(self, s: ir.Share) -> None:
        q = s.rounding.quantum.scaleb(2, CTX)
        if q != q.to_integral_value() or q <= 0:
            raise NotImplementedError("rounding to less than a fen")
        qf = int(q)
        unit = qf * 10**4  # exact is at scale 6 (fen x 1/10000)
        exact = f"v_{s.exact}" if s.exact else f"v_{s.base} * v_{s.ratio}"
        self.emit(f"x = {exact}")
        if s.rounding.mode == "half_up":
            self.emit(
                f"v_{s.out} = ((x + {unit // 2}) // {unit}) * {qf} if x >= 0 else "
                f"-(((-x + {unit // 2}) // {unit}) * {qf})"
            )
        else:
            self.emit(f"v_{s.out} = _round(x, {unit}, {s.rounding.mode!r}) * {qf}")
        self.trace(
            lambda t: t.share(s, trace_field(s.out)),
            f"v_{s.out}",
            f"v_{s.base}",
            "None" if s.exact else f"v_{s.ratio}",
            "x",
        )

    def limit(self, s: ir.Limit) -> None:
        self.emit(f"fund = v_{s.value}")
        for j, cap in enumerate(s.caps):
            self.emit(f"a{j} = {self.cond(cap.when)}")
            self.emit(f"if a{j}:")
            self.depth += 1
            self.value(cap.amount, "amt", "rp", 2)
            self.read(cap.counter, f"k{j}", f"b{j}")
            self.emit(f"room = amt - b{j}")
            self.emit("if room < 0: room = 0")
            self.emit("if fund > room:")
            self.depth += 1
            self.emit("fund = room")
            self.counter_trace(partial(tr_cap, out=s.out), cap, "fund", f"b{j}", f"v_{s.value}")
            self.depth -= 2
        for j, cap in enumerate(s.caps):
            if self.key(cap.counter) is not None:
                self.emit(f"if a{j}:")
                self.depth += 1
                self.charge(cap.counter, f"k{j}", f"b{j}", "fund")
                self.depth -= 1
        self.emit(f"v_{s.out} = fund")

    def outcome(self, s: ir.Outcome) -> None:
        self.emit(f"if v_{s.fund} == 0:")
        self.depth += 1
        first = True
        for reason, cond in s.reasons:
            if cond == ir.TRUE:
                self.emit("else:" if not first else "if True:")
            else:
                self.emit(f"{'if' if first else 'elif'} {self.cond(cond)}:")
            self.emit(f"    reason = {reason!r}")
            first = False
        self.depth -= 1

    def account_pay(self, s: ir.AccountPay) -> None:
        self.emit("if f_acct_balc is not None: balances[psn] = f_acct_balc")
        self.emit("bal = balances.get(psn)")
        self.emit(f"v_{s.out} = 0")
        self.emit(f"v_{s.balance} = bal")
        self.emit("if bal is None:")
        self.trace_indented(lambda t: t.constant(tr_account_unknown()))
        self.emit(f"elif not {self.cond(s.used)}:")
        self.trace_indented(lambda t: t.wrap(tr_account_not_used, "acct_pay", 0))
        self.emit("else:")
        self.depth += 1
        request = dict(s.request)
        args = []
        for name in ("relation", "item", "venue", "networked"):
            self.value(request[name], f"q_{name}", None, None)
            args.append(f"q_{name}")
        self.emit(f"dk = ({', '.join(args)}, d)")
        self.emit("dec = decided.get(dk)")
        self.emit("if dec is None:")
        self.emit(f"    dec = decided[dk] = MAYPAY({', '.join(args)}, d)")
        if s.payable is None:
            self.emit("allowed = False")
            self.emit(
                "why = dec[1] if not dec[0] else 'the policy declares no account_covers setting'"
            )
        else:
            self.emit("allowed = dec[0]")
            self.emit("why = dec[1]")
        self.emit("if not allowed:")
        self.depth += 1
        refused = partial(TraceSource.wrap, build=tr_account_refused, field="acct_pay", arity=4)
        self.trace(refused, "why", "dec[2]", "q_venue", "bal")
        self.depth -= 1
        if s.payable is not None:
            self.emit("else:")
            self.depth += 1
            code, sc = self.expr(s.payable)
            self.emit(f"payable = {_rescale(code, sc, 2)}")
            self.emit(f"v_{s.out} = pay = min(bal, payable if payable > 0 else 0)")
            self.emit(f"balances[psn] = v_{s.balance} = bal - pay")
            self.trace(lambda t: t.account_pay(s), "pay", "bal", "payable")
            self.depth -= 1
        self.depth -= 1

    def trace_indented(self, recipe: Recipe) -> None:
        self.depth += 1
        self.trace(recipe)
        self.depth -= 1

    def credit_rules(self, s: ir.CreditRules) -> None:
        q = s.rounding.quantum.scaleb(2, CTX)
        qf = int(q)
        first = True
        for rule in s.rules:
            self.emit(f"{'if' if first else 'elif'} {self.cond(rule.when)}:")
            first = False
            self.depth += 1
            code, sc = self.expr(rule.amount)
            sc = sc or 0
            self.emit(f"x = {code}")
            if sc >= 2:
                unit = qf * 10 ** (sc - 2)
                self.emit(f"credit = _round(x, {unit}, {s.rounding.mode!r}) * {qf}")
            else:
                self.emit(f"credit = x * {10 ** (2 - sc)}")
            self.emit(f"reason, rule = 'credited', {self.const(rule, 'rule')}")
            self.emit(f"exact = D(x, {sc})")
            self.depth -= 1

    def decision(self, s: ir.Decision) -> None:
        first = True
        for verdict in s.verdicts:
            cond = self.cond(verdict.when)
            if cond == "True":
                self.emit("else:" if not first else "if True:")
            else:
                self.emit(f"{'if' if first else 'elif'} {cond}:")
            first = False
            self.depth += 1
            self.emit(f"verdict = {self.const(verdict, 'verdict')}")
            if verdict.channel is not None:
                self.value(verdict.channel, "channel", None, None)
            self.depth -= 1


STEP_EMITTERS: dict[type, Callable[[Gen, Any], Any]] = {
    ir.Let: Gen.let,
    ir.Gate: Gen.gate,
    ir.Consume: Gen.consume,
    ir.Ratio: Gen.ratio,
    ir.BandShare: Gen.band_share,
    ir.Share: Gen.share,
    ir.Limit: Gen.limit,
    ir.Outcome: Gen.outcome,
    ir.AccountPay: Gen.account_pay,
    ir.CreditRules: Gen.credit_rules,
    ir.Decision: Gen.decision,
}


def _align(lc: str, ls: int | None, rc: str, rs: int | None) -> tuple[str, str, int | None]:
    ls, rs = ls or 0, rs or 0
    if ls < rs:
        return f"({lc} * {10 ** (rs - ls)})", rc, rs
    if rs < ls:
        return lc, f"({rc} * {10 ** (ls - rs)})", ls
    return lc, rc, ls


def _rescale(code: str, have: int | None, want: int | None) -> str:
    if have is None or want is None or have == want:
        return code
    if have < want:
        return f"({code} * {10 ** (want - have)})"
    raise NotImplementedError(f"narrowing a value from scale {have} to {want}")


def _single_field_table(v: ir.Decide) -> Any:
    """A table whose every row is ``FIELD in {...}`` on one field with a literal value,
    disjoint rows: a dictionary look-up.  None otherwise."""
    field = None
    mapping: dict = {}
    for arm in v.arms:
        w = arm.when
        if type(w) is ir.AllOf and len(w.items) == 1:
            w = w.items[0]
        if (
            type(w) is not ir.InSet
            or type(w.operand) is not ir.Field
            or type(arm.value) is not ir.Const
        ):
            return None
        if field is None:
            field = w.operand
        elif w.operand != field:
            return None
        for value in w.values:
            if value in mapping:
                return None
            mapping[value] = arm
    return field, mapping


def _vars_read(e: ir.Expr) -> list[str]:
    if isinstance(e, ir.Arith):
        return _vars_read(e.left) + [n for n in _vars_read(e.right) if n not in _vars_read(e.left)]
    return [e.name] if isinstance(e, ir.Var) else []


# ---- trace builders: raw numbers of a step -> TraceStep (called when a trace is read) ----


def _r(x):
    return None if x is None else D(x, 4)


def _unscale(values: Iterable[Any], scales: Iterable[int | None]) -> list:
    return [
        D(v, sc) if sc is not None and type(v) is int else v
        for v, sc in zip(values, scales, strict=True)
    ]


# the trace builders of rare steps, as Python functions (scalar_trace generates the others)


def _bound_tracer(b: ir.RatioBound) -> Callable[..., Any]:
    def build(value, before):
        return tr_bound(D(value, 4), b, D(before, 4))

    return build


def _bands_tracer(s: ir.BandShare, scales: list[tuple]) -> Callable[..., Any]:
    """``scales``: of the fields each adjustment's condition reads."""

    def build(parts, prior, pts, *applied):
        out = [
            tr_band(D(s_ratio, 4), s.bands.provs[i], part, prior, D(pts, 4))
            for i, part, s_ratio in parts
        ]
        for a, sc, (on, p, *values) in zip(s.adjustments, scales, applied, strict=True):
            if on:
                reads = dict(zip(fields_read(a.when), _unscale(values, sc), strict=True))
                out.append(tr_band_adjust(a, D(p, 4), reads))
        return out

    return build


def _bands(limits, values, pts, prior, amount):
    exact = 0
    last = values[0] + pts
    parts = []
    for i, part in split_bands(limits, prior, amount, int.__add__, int.__sub__, 0):
        r = values[i] + pts
        if not 0 <= r <= 10000:
            raise BadValue(_ratio_msg(r))
        exact += part * r
        last = r
        parts.append((i, part, r))
    if not 0 <= last <= 10000:
        raise BadValue(_ratio_msg(last))
    return exact, last, parts


def _ratio_msg(r: int) -> str:
    return (
        f"the ratio that applies comes to {percent(D(r, 4))}, outside 0%..100%; check the "
        "parameters"
    )


def _need(value: Any, name: str) -> Any:
    if value is None:
        raise MissingValue(name, False)
    return value


BASE_NS = {
    "_need": _need,
    "BadValue": BadValue,
    "NoRowError": NoRowError,
    "_round": round_units,
    "_bands": _bands,
    "D": D,
    "_ratio_msg": _ratio_msg,
}


# ---- the settle function ------------------------------------------------------------------

SETTLE_VARS = SETTLED_AMOUNTS


def settle_source(policy: ir.Policy, tracing: bool) -> tuple[str, dict]:
    prog = policy.programs["settle"]
    g = Gen(policy, prog, tracing)
    fields = list(VISIT_SPEC) + [k for k in policy.inputs if k not in VISIT_SPEC]
    g.emit("def settle(rows, order, P, BLOCKS, used, balances, seqs, MAYPAY, out, problems, J):")
    g.depth = 1
    g.emit("decided = {}")
    g.emit("for i in order:")
    g.depth = 2
    g.emit("row = rows[i]")
    g.emit(f"({', '.join('f_' + f for f in fields)}, d, text) = row")
    g.emit("psn = f_psn_no")
    g.emit("f_setl_time = d  # conditions see the date")
    g.emit("seq = seqs[psn] = seqs.get(psn, 0) + 1")
    g.emit("try:")
    g.depth = 3
    if tracing:
        g.emit("tr = [TRACE_ND]")
    g.emit("reason = None")
    for name, _t, init in prog.variables:
        g.emit(f"v_{name} = {'None' if init is None else 0}")
    g.steps(prog.prelude)
    blocks = prog.blocks

    def not_in_force():
        g.steps(prog.otherwise)
        g.emit("reason = 'not_in_force'")

    g.blocks("d", not_in_force)
    g.steps(prog.postlude)
    banded = {
        b_index
        for b_index, b in enumerate(blocks)
        if any(isinstance(s, ir.BandShare) for s in b.steps)
    }
    g.emit(
        "msg = (reason, d, v_ratio, v_remaining, v_hifp_raw, v_hifp_pay, blk in "
        f"{g.const(frozenset(banded))})"
    )
    trace = "tuple(tr)" if tracing else "()"
    funds = settle_funds(prog)
    g.emit(
        "out[i] = VisitResult(psn, text, (f_medfee_sumamt, "
        f"{', '.join('v_' + v for v in (*SETTLE_VARS, *funds))}), "
        f"v_balc, v_ratio, reason, _message(msg), {trace}, (f_setl_id, f_mdtrt_id, seq, "
        f"'settle'), STAMP, {funds!r})"
    )
    g.depth = 2
    for exc, what in (("MissingValue", "missing"), ("NoRowError", "norow"), ("BadValue", "bad")):
        g.emit(f"except {exc} as e:")
        g.emit(f"    problems.append((i, {what!r}, e))")
    g.ns.update(BASE_NS)
    g.ns.update(
        VisitResult=VisitResult,
        MissingValue=MissingValue,
    )
    if tracing:
        found, none_found = g.tb.materializers()
        g.ns["TRACE_ID"] = register_trace_builder(found)
        g.ns["TRACE_ND"] = register_trace_builder(none_found)
    pid, has_pooling = policy.id, prog.section is not None

    def _message(args):
        def render(lang="en"):
            reason, d, ratio_e4, remaining, raw, fund, banded_ = args
            return settle_message(
                reason,
                pid,
                has_pooling,
                d,
                _r(ratio_e4),
                yuan(remaining),
                yuan(raw),
                yuan(fund),
                banded_,
                lang,
            )

        return render

    g.ns["_message"] = _message
    return "\n".join(g.lines) + "\n", g.ns


def maypay_source(policy: ir.Policy) -> tuple[str, dict]:
    prog = policy.programs["may_pay"]
    g = Gen(policy, prog, False)
    g.emit("def decide(f_relation, f_item, f_venue, f_networked, f_on, P, BLOCKS):")
    g.depth = 1
    g.emit("if f_venue is None: f_venue = ABSENT")
    g.emit("verdict = channel = None")
    g.blocks("f_on")
    g.emit("return verdict, channel")
    from ..ir.evaluate import ABSENT

    g.ns.update(BASE_NS)
    g.ns["ABSENT"] = ABSENT
    return "\n".join(g.lines) + "\n", g.ns


def credit_source(policy: ir.Policy) -> tuple[str, dict]:
    prog = policy.programs["credit"]
    g = Gen(policy, prog, False)
    fields = list(V.PERSON_FIELDS) + [k for k in policy.inputs if k not in V.PERSON_FIELDS]
    g.emit("def credit(row, P, BLOCKS):")
    g.depth = 1
    for f in fields:
        g.emit(f"f_{f} = row.get({f!r})")
    g.emit("reason = credit = rule = exact = None")
    g.blocks("f_on", lambda: g.emit("reason = 'not_in_force'"))
    g.emit("return reason, credit, rule, exact")
    g.ns.update(BASE_NS)
    return "\n".join(g.lines) + "\n", g.ns


def _compile(source: str, ns: dict, name: str, filename: str) -> Any:
    code = compile(source, filename, "exec")
    exec(code, ns)  # noqa: S102 - our own generated source, built from the IR only
    return ns[name]


# ---- fast input path ---------------------------------------------------------------------

_MONEY = re.compile(
    r"([0-9]{1,15})(?:\.([0-9]{1,2}))?"
)  # ASCII digits only: others go the general way


def _fen(v: object) -> int:
    if type(v) is str:
        m = _MONEY.fullmatch(v)
        if m is None:
            raise _Slow
        whole, frac = m.groups()
        return int(whole) * 100 + (int(frac) * (10 if len(frac) == 1 else 1) if frac else 0)
    if type(v) is int and 0 <= v < 10**15:
        return v * 100
    raise _Slow


def _enum_map(policy: ir.Policy, name: str) -> tuple[dict, dict]:
    """What the fast path reads for an enumeration field: text -> canonical value for the
    values, aliases and codes that imply nothing (exactly what ``Enumeration.lookup``
    accepts), and code -> (value, implied flxempe_flag) for the codes that imply only that
    flag.  Anything else (a code implying more, text with spaces around it) is not in
    either: the general path takes it."""
    enum = policy.vocab.enums[name]
    plain = {**{k: k for k in enum.values}, **dict(enum.aliases)}
    flagged = {}
    for code, meaning in enum.codes.items():
        if code in plain:
            continue
        if not meaning.implies:
            plain[code] = meaning.value
        elif len(meaning.implies) == 1 and meaning.implies[0][0] == "flxempe_flag":
            flagged[code] = (meaning.value, meaning.implies[0][1])
    return plain, flagged


class _FastVisits:
    """Validate visits on the canonical forms only; ``_Slow`` for anything else.  What it
    accepts, ``inputs.validate_visits`` accepts with identical values (a test checks
    every key of its enumeration maps)."""

    def __init__(self, policy: ir.Policy):
        self.extra = {k: t for k, (t, _) in policy.inputs.items() if k not in VISIT_SPEC}
        self.defaults = {k: d for k, (_, d) in policy.inputs.items()}
        self.known = frozenset(VISIT_SPEC) | frozenset(self.extra)
        self.vocab = policy.vocab
        self.psn_type, self.psn_flagged = _enum_map(policy, "psn_type")
        self.hosp_lv, _ = _enum_map(policy, "hosp_lv")  # a code implying a field: general path
        self.times: dict[str, Any] = {}
        self.split = getattr(policy, "bill_split", None) is not None

    def when(self, v):
        """(value, date, order key, echoed text) of a setl_time given exactly in one of the
        documented forms (the same parser as the general path: the same values)."""
        got = self.times.get(v)
        if got is None:
            if type(v) is not str or not v.isascii():
                raise _Slow
            try:
                t = setl_time_of(v)  # no trimming: text with spaces around goes the general way
            except ValueError:
                raise _Slow from None
            got = (
                (t, t.date(), (t.date(), 1, t.time()), setl_time_text(t))
                if isinstance(t, dt.datetime)
                else (t, t, (t, 0, dt.time.min), v)
            )
            self.times[v] = got
        return got

    def rows(self, records: Any) -> tuple[list, list]:
        """The records in the generated code's form, and their settlement-order keys; raises
        ``_Slow`` for anything not in the canonical forms this path reads (a declared bill
        split is checked by the general path)."""
        if (
            self.split
            or isinstance(records, (str, bytes, dict))
            or not isinstance(records, (list, tuple))
        ):
            raise _Slow
        rows, keys = [], []
        for r in records:
            if type(r) is not dict or not r.keys() <= self.known:
                raise _Slow
            row, key = self.row(r)
            rows.append(row)
            keys.append(key)
        return rows, keys

    def row(self, r: dict) -> tuple[tuple, Any]:
        """One record (the fields the generated code reads, in its order) and its key."""
        try:
            psn = r["psn_no"]
            psn_type, flx = self.person_type(r["psn_type"], r["flxempe_flag"])
            setl, d, key, setl_text = self.when(r["setl_time"])
            hosp = self.hosp_lv[r["hosp_lv"]]
            medfee = _fen(r["medfee_sumamt"])
        except (KeyError, TypeError):
            raise _Slow from None
        if type(psn) is not str or not psn or psn.strip() != psn or type(flx) is not bool:
            raise _Slow
        designated = r.get("designated")
        if designated is None:
            designated = True
        elif type(designated) is not bool:
            raise _Slow
        own, over, pre = (_fen_or_0(r.get(f)) for f in _SELF_PAID)
        if own + over + pre > medfee:
            raise _Slow
        balc = r.get("acct_balc")
        if balc is not None:
            balc = _fen(balc)
        values = [psn, psn_type, flx, setl, hosp, designated, medfee, own, over, pre, balc]
        values += _platform_codes(r)
        for name, t in self.extra.items():
            values.append(self.extra_value(r, name, t))
        values.append(d)
        values.append(setl_text)
        return tuple(values), key

    def person_type(self, raw: Any, flx: Any) -> tuple[str, Any]:
        """The person type a ``psn_type`` value names; a code that implies the flag must agree
        with the record's."""
        psn_type = self.psn_type.get(raw)
        if psn_type is None:
            psn_type, implied = self.psn_flagged[raw]
            if flx is not implied:
                raise _Slow
        return psn_type, flx

    def extra_value(self, r: dict, name: str, t: str) -> Any:
        from ..inputs import _Bad, parse_enum, parse_value

        v = r.get(name)
        if v is None:
            return _internal(self.defaults.get(name), t)
        try:
            if t in self.vocab.enums:
                value, code = parse_enum(self.vocab.enums[t], v)
                if code is not None and code.implies:  # what it implies is checked the general way
                    raise _Slow
                return value
            return _internal(parse_value(t, v, False, vocab=self.vocab), t)
        except _Bad:
            raise _Slow from None


_SELF_PAID = ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt")


def _platform_codes(r: dict) -> list[str | None]:
    """The optional codes and identifiers, canonical text only (``acct_used_flag`` "0" or
    "1" when given)."""
    out = []
    for name in PLATFORM_FIELDS:
        v = r.get(name)
        if v is not None and (type(v) is not str or not v or v.strip() != v):
            raise _Slow
        out.append(v)
    if r.get("acct_used_flag") not in (None, "0", "1"):
        raise _Slow
    return out


def _fen_or_0(v: object) -> int:
    return 0 if v is None else _fen(v)


def _internal(value: Any, t: str) -> Any:
    """A typed value (Decimal money/ratio...) as generated code holds it."""
    if value is None or t not in SCALE:
        return value
    return scaled(value, SCALE[t], "a value")


def _from_general(row: dict, policy: ir.Policy) -> tuple[tuple, tuple]:
    """A record typed by ``inputs.validate_visits`` in the generated code's form."""
    extra = [k for k in policy.inputs if k not in VISIT_SPEC]
    t = row["setl_time"]
    d = t.date() if isinstance(t, dt.datetime) else t
    values = [
        row["psn_no"],
        row["psn_type"],
        row["flxempe_flag"],
        t,
        row["hosp_lv"],
        row["designated"],
        scaled(row["medfee_sumamt"], 2, "medfee_sumamt"),
        scaled(row["fulamt_ownpay_amt"], 2, ""),
        scaled(row["overlmt_selfpay"], 2, ""),
        scaled(row["preselfpay_amt"], 2, ""),
        scaled(row["acct_balc"], 2, "") if row["acct_balc"] is not None else None,
    ]
    values += [row[name] for name in PLATFORM_FIELDS]
    for name in extra:
        values.append(_internal(row.get(name), policy.inputs[name][0]))
    values += [d, setl_time_text(t)]
    return tuple(values), time_key(t)


# ---- the backend ---------------------------------------------------------------------------


@contextlib.contextmanager
def _gc_paused():
    """A settlement run allocates many small objects that all stay alive (the results):
    the cyclic collector would scan them again and again and find nothing to free (no
    cycles are made).  Paused for the run, as it was before afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Scalar:
    name = "scalar"

    def __init__(self, policy: ir.Policy, tracing: bool = True):
        self.policy = policy
        self.tracing = tracing
        self.settle_src, ns = settle_source(policy, tracing)
        ns["STAMP"] = (policy.id, content_hash(policy))
        self._settle = _compile(self.settle_src, ns, "settle", f"<policylang settle {policy.id}>")
        self.maypay_src, ns = maypay_source(policy)
        self._decide = _compile(self.maypay_src, ns, "decide", f"<policylang may_pay {policy.id}>")
        self.credit_src, ns = credit_source(policy)
        self._credit = _compile(self.credit_src, ns, "credit", f"<policylang credit {policy.id}>")
        self._fast = _FastVisits(policy)

    def source(self, kind: str = "settle") -> str:
        return {"settle": self.settle_src, "may_pay": self.maypay_src, "credit": self.credit_src}[
            kind
        ]

    def __getstate__(self) -> dict[str, Any]:
        return {"policy": self.policy, "tracing": self.tracing}

    def __setstate__(self, state: dict[str, Any]) -> None:
        Scalar.__init__(self, state["policy"], state["tracing"])

    # -- parameters and blocks
    def _params(self, params: dict) -> dict:
        out = {}
        for name, value in params.items():
            t = self.policy.params.get(name)
            out[name] = (
                scaled(value, SCALE[t], f"parameter {name}")
                if t in SCALE and value is not None
                else value
            )
        return out

    def _blocks(self, program: ir.Program, params: dict) -> list:
        """(start, until, index) of each block, latest start first (the one in force wins)."""
        out = []
        for index, block in enumerate(program.blocks):
            points = []
            for point in (block.start, block.until):
                if point is None or isinstance(point, dt.date):
                    points.append(point)
                elif params.get(point) is None:
                    raise missing_param(point, self.policy)
                else:
                    points.append(params[point])
            out.append((points[0], points[1], index))
        out.sort(key=lambda x: (x[0], x[2]), reverse=True)
        return out

    # -- settle
    def new_state(self) -> dict:
        """What settling carries from one visit to the next: amounts used per counter key,
        balances per person.  Pass the same state to successive ``settle`` calls to
        continue a run (records in time order across calls)."""
        return {"used": {}, "balances": {}, "seq": {}}

    def settle(
        self,
        visits: Any,
        params: dict,
        state: dict | None = None,
        journal: list | None = None,
    ) -> list[VisitResult]:
        """``journal``, when given, receives ``(index, ledger key, fen)`` for every amount a
        counter is charged (index: the record's position in ``visits``)."""
        try:
            rows, keys = self._fast.rows(visits)
        except _Slow:
            general = validate_visits(visits, self.policy)  # raises InputError with every problem
            pairs = [_from_general(r, self.policy) for r in general]
            rows, keys = [p[0] for p in pairs], [p[1] for p in pairs]
        order = sorted(range(len(rows)), key=keys.__getitem__)  # stable: input row breaks ties
        P = self._params(params)
        blocks = self._blocks(self.policy.programs["settle"], params)
        may_blocks = None

        def maypay(relation, item, venue, networked, on):
            nonlocal may_blocks
            if may_blocks is None:
                may_blocks = self._blocks(self.policy.programs["may_pay"], params)
            verdict, channel = self._decide(relation, item, venue, networked, on, P, may_blocks)
            if verdict is None:
                return (False, "not_in_force", None)
            return (verdict.allowed, verdict.reason, verdict.prov.clause if verdict.prov else None)

        out: list[Any] = [None] * len(rows)
        problems: list = []
        state = self.new_state() if state is None else state
        with _gc_paused():
            self._settle(
                rows,
                order,
                P,
                blocks,
                state["used"],
                state["balances"],
                state["seq"],
                maypay,
                out,
                problems,
                journal,
            )
        if problems:
            raise InputError(
                [
                    self._problem(i, kind, e, rows[i][0])
                    for i, kind, e in sorted(problems, key=lambda p: p[0])
                ]
            )
        return out

    def _problem(self, i: int, kind: str, e: Exception, psn: Any) -> InputProblem:
        if isinstance(e, MissingValue):  # kind "missing"
            if e.is_param:
                raise missing_param(e.name, self.policy)
            return InputProblem(
                i + 1, e.name, "is required by the rule that applies to this record", psn
            )
        if kind == "norow":
            return InputProblem(
                i + 1,
                "(record)",
                "no row of a decision table of the policy applies to this record",
                psn,
            )
        return InputProblem(i + 1, "(record)", str(e), psn)

    # -- may-pay
    def may_pay(self, requests: Any, params: dict) -> list[MayPayResult]:
        rows = validate_requests(requests, self.policy)
        P = self._params(params)
        blocks = self._blocks(self.policy.programs["may_pay"], params)
        out = []
        for r in rows:
            verdict, channel = self._decide(
                r["relation"], r["item"], r.get("venue"), r["networked"], r["on"], P, blocks
            )
            reason = verdict.reason if verdict else "not_in_force"
            out.append(may_pay_result(r, verdict, reason, channel, self.tracing))
        return out

    # -- credit
    def credit(self, persons: Any, params: dict) -> list[CreditResult]:
        rows = validate_persons(persons, self.policy)
        P = self._params(params)
        blocks = self._blocks(self.policy.programs["credit"], params)
        out, problems = [], []
        for i, r in enumerate(rows):
            typed = {
                k: _internal(v, V.PERSON_FIELDS.get(k) or self.policy.inputs.get(k, (None,))[0])
                for k, v in r.items()
            }
            try:
                reason, credit, rule, exact = self._credit(typed, P, blocks)
            except MissingValue as e:
                problems.append(self._problem(i, "missing", e, r.get("psn_no")))
                continue
            on = r["on"]
            reason = reason or "no_rule"
            value = None if credit is None else yuan(credit)
            if value is not None and value < 0:
                problems.append(
                    InputProblem(
                        i + 1, "(record)", negative_credit(rule.name, str(value)), r.get("psn_no")
                    )
                )
                continue
            trace = (
                (tr_credit(value, rule.prov, exact),)
                if self.tracing and rule is not None and value is not None
                else ()
            )
            out.append(
                credit_result(
                    r["psn_no"],
                    on,
                    value,
                    reason,
                    rule.name if rule else None,
                    rule.prov.clause if rule else None,
                    trace,
                )
            )
        if problems:
            raise InputError(problems)
        return out
