"""The DuckDB backend: settles visits with the SQL the lowering (``base``) generates.

``settle`` validates the records (``inputs.validate_visits``), loads them into an
in-process DuckDB through Arrow (money as integer fen), runs the plan and turns each
row into a ``runtime.VisitResult``.  A plan with a sequential step (``sequential``)
runs as SQL up to it (a temporary table), the step in Python over each person's
visits in settlement order, and SQL again from its result; every other plan is one
query.  ``credit`` and ``may_pay`` are one query each.  Results carry no trace
(``settle_traces = False``); messages are built from the values, as every backend builds them.

``DuckDB.query_for(...)`` gives the settle plan for a table already in DuckDB (the
benchmark runs it on ten million generated visits); ``compile --emit sql`` prints it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Callable

from ... import ir
from ... import vocab as V
from ...inputs import (
    InputError,
    InputProblem,
    missing_param,
    setl_time_text,
    validate_persons,
    validate_requests,
    validate_visits,
)
from ...ir.demands import demands
from ...ir.serial import content_hash
from ...ir.evaluate import CTX
from ...runtime import (
    SETTLED_AMOUNTS,
    CreditResult,
    MayPayResult,
    VisitResult,
    credit_message,
    may_pay_result,
    percent,
    settle_message,
    yuan,
)
from ..common import BackendUnavailable, bucket, settle_funds, settle_order

if TYPE_CHECKING:
    from .base import CreditLowering, MayPayLowering, Plan, SettleLowering, Stage

INSTALL = "pip install 'policylang[sql]'"
SMALL = 20_000  # below this many rows one thread plans and runs a query sooner than several


def _engine() -> tuple[Any, Any]:
    try:
        import duckdb
        import pyarrow
        import sqlglot  # noqa: F401
    except ImportError as e:
        raise BackendUnavailable(
            f"the duckdb backend needs DuckDB, sqlglot and pyarrow ({e.name} is missing): {INSTALL}"
        ) from None
    return duckdb, pyarrow


class DuckDB:
    name = "duckdb"
    dialect = "duckdb"  # the SQL the plan is generated in
    settle_traces = (
        False  # settlement results carry no trace; tests/test_backends.py compares the rest
    )

    def __init__(self, policy: ir.Policy, tracing: bool = True):
        self._pa = self._open()
        from . import base

        self._base = base
        self.policy = policy
        self.tracing = tracing  # accepted for the common signature; no trace is built
        self._number_inputs = {k: 6 for k, (t, _) in policy.inputs.items() if t == V.NUMBER}
        # NotSupported here, at construction, names the step; nothing half-runs later
        self._lowering = base.SettleLowering(
            policy, source="pl_visits", decimal_columns=self._number_inputs
        )
        # the plan that reads and writes the ledger, built when first needed
        self._stateful: SettleLowering | None = None
        self._unbalanced: SettleLowering | None = None  # no visit gives a balance: built so too
        self._may_pay: MayPayLowering | None = None  # credit and may-pay plans, built when
        self._credit_plan: CreditLowering | None = None  # first used
        self._scripts: dict = {}
        self._settle_program = policy.programs["settle"]
        self._banded = frozenset(
            b
            for b, block in enumerate(self._settle_program.blocks)
            if any(isinstance(s, ir.BandShare) for s in block.steps)
        )
        self._counters = {c.id: c for c in self._settle_program.counters}
        self.stamp = (policy.id, content_hash(policy))

    def _open(self) -> Any:
        """The engine (``BackendUnavailable`` when it is missing) as ``self.con``, which
        registers Arrow tables by name and runs the script (``_run``); returns pyarrow.  Each
        engine (``spark.py``) opens its own; the rest of the backend is shared."""
        duckdb, pa = _engine()
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET enable_progress_bar = false")  # standard output is the caller's
        self._threads = self.con.sql("SELECT current_setting('threads')").fetchall()[0][0]
        return pa

    def __getstate__(self) -> dict[str, Any]:
        return {"policy": self.policy, "tracing": self.tracing}

    def __setstate__(self, state: dict[str, Any]) -> None:
        DuckDB.__init__(self, state["policy"], state["tracing"])

    @property
    def plan(self) -> Plan:
        """The settle plan (``plan.sql("duckdb")`` when it is one query)."""
        return self._lowering.plan

    @staticmethod
    def query_for(
        policy: ir.Policy,
        source: str = "visits",
        params: dict | None = None,
        decimal_columns: dict | None = None,
        extras: bool = False,
        dialect: str = "duckdb",
        ordered: bool = True,
    ) -> str:
        """The settle query over ``source`` (a table with ``base.visit_columns``), parameters
        inlined when given (else ``$name`` placeholders), rows in ``row_no`` order when
        ``ordered``; ``NotSupported`` when the program has no closed form."""
        _engine()
        from . import base

        lowering = base.SettleLowering(
            policy, params, source=source, extras=extras, decimal_columns=decimal_columns
        )
        return lowering.plan.sql(dialect, pretty=False, ordered=ordered)

    @classmethod
    def table_query(
        cls,
        policy: ir.Policy,
        con: Any,
        table: str,
        params: dict | None = None,
        extras: bool = False,
        ordered: bool = True,
    ) -> str:
        """The settle query over ``table`` of connection ``con`` (columns as
        ``base.visit_columns``): money columns typed DECIMAL are yuan and become fen
        exactly (times a power of ten; a value finer than a fen is an ``err``, with
        ``extras``).  ``params``: typed values to inline (``inputs.validate_params``)."""
        decimals = {}
        for name, col_type, *_ in con.sql(f'DESCRIBE "{table}"').fetchall():
            if col_type.upper().startswith("DECIMAL"):
                decimals[name] = int(col_type.rstrip(")").split(",")[1])
        return cls.query_for(policy, table, params, decimals, extras, ordered=ordered)

    # ---- settle -------------------------------------------------------------------------
    def new_state(self) -> dict:
        """What settling leaves for the next call, as every backend keeps it: ``used`` maps a
        ledger key ``(psn_no, counter id, period bucket, each value)`` to the fen used,
        ``balances`` a person to the fen left in the account, ``seq`` a person to the
        number of operations settled."""
        return {"used": {}, "balances": {}, "seq": {}}

    def settle(
        self,
        records: Any,
        params: dict,
        state: dict | None = None,
        journal: list | None = None,
    ) -> list[VisitResult]:
        """Results in input order; ``state`` (``new_state``) is read and updated; when
        ``journal`` is a list, ``(index, ledger key, fen)`` is appended for every amount a
        counter is charged (index: the visit's position in ``records``)."""
        visits = validate_visits(records, self.policy)
        if not visits:
            return []
        wanted = self._settle_params(visits, state)
        plan = self._lowering.plan
        keeping = state is not None or journal is not None
        if keeping:  # the plan that reads what earlier calls used and outputs what each visit uses
            if state is None:
                state = self.new_state()
            if self._stateful is None:
                self._stateful = self._base.SettleLowering(
                    self.policy, source="pl_visits", state=True, decimal_columns=self._number_inputs
                )
            plan = self._stateful.plan
        table = self._visits_table(visits)
        binds = self._binds(params, wanted)
        registered = ["pl_visits"]
        self.con.register("pl_visits", table)
        try:
            if state is not None:
                self._register_state(state, registered)
            cols = self._run(plan, binds, registered, state, len(visits))
        finally:
            for name in registered:
                self.con.unregister(name)
        index = [0] * len(visits)
        for pos, row_no in enumerate(cols["row_no"]):
            index[row_no] = pos
        order = settle_order(visits)
        _raise_errors(cols, index, visits)
        seqs = self._sequence(visits, order, state)
        funds = settle_funds(self._settle_program)
        out = [self._result(v, cols, index[i], seqs[i], funds) for i, v in enumerate(visits)]
        if state is not None:
            self._keep_state(state, journal, visits, order, cols, index, plan)
        return out

    def _result(self, v: dict, cols: dict, p: int, seq: int, funds: tuple[str, ...]) -> VisitResult:
        """The result of visit ``v``, row ``p`` of the plan's columns ``cols``; ``funds``: the
        further funds' output fields, whose amounts follow the others."""
        amounts = (
            _fen(v["medfee_sumamt"]),
            *(int(cols[k][p]) for k in (*SETTLED_AMOUNTS, *funds)),
        )
        balc = cols["balc"][p]
        ratio = cols["pool_prop_selfpay"][p]
        reason = cols["reason"][p]
        message = _message(
            reason,
            self.policy.id,
            self._settle_program.section is not None,
            _day(v["setl_time"]),
            ratio,
            cols["remaining"][p],
            cols["hifp_raw"][p],
            amounts[3],
            cols["blk"][p] in self._banded,
        )
        return VisitResult(
            v["psn_no"],
            setl_time_text(v["setl_time"]),
            amounts,
            None if balc is None else int(balc),
            None if ratio is None else int(ratio),
            reason,
            message,
            (),
            (v.get("setl_id"), v.get("mdtrt_id"), seq, "settle"),
            self.stamp,
            funds,
        )

    @staticmethod
    def _sequence(visits: list[dict], order: list[int], state: dict | None) -> list[int]:
        """Each visit's operation number for its person (``seq``): one more than the person's
        last, in settlement order; ``state["seq"]`` is updated."""
        counts = state["seq"] if state is not None else {}
        seqs = [0] * len(visits)
        for i in order:
            psn = visits[i]["psn_no"]
            seqs[i] = counts[psn] = counts.get(psn, 0) + 1
        return seqs

    def _settle_params(self, visits: list[dict], state: dict | None) -> list[str]:
        """The parameters settling needs: the settle program's, and the account-use rules'
        when some visit uses an account whose balance is known (the reference reads them
        only then)."""
        wanted = list(demands(self._settle_program).params)
        known = set(state["balances"]) if state else set()
        for i in settle_order(visits):
            v = visits[i]
            if v.get("acct_balc") is not None:
                known.add(v["psn_no"])
            if v["psn_no"] in known and v.get("acct_used_flag") != "0":
                wanted += demands(self.policy.programs["may_pay"]).params
                break
        return wanted

    def _binds(self, params: dict, wanted: list[str]) -> dict:
        """Every parameter in its unit (fen, 1/10000, ...); a missing one that is ``wanted``
        is reported before anything runs, any other is bound as NULL (never read)."""
        out: dict[str, Any] = {}
        for name, t in self.policy.params.items():
            value = params.get(name)
            if value is None:
                if name in wanted:
                    raise missing_param(name, self.policy)
                out[name] = None
            elif t in self._base.SCALE:
                x = value.scaleb(self._base.SCALE[t], CTX)
                if x != x.to_integral_value(context=CTX):
                    raise InputError(
                        [
                            InputProblem(
                                None,
                                name,
                                f"has more decimals than the duckdb backend keeps "
                                f"({self._base.SCALE[t]})",
                                source="parameters",
                            )
                        ]
                    )
                out[name] = int(x)
            else:
                out[name] = value
        return out

    def _visits_table(self, visits: list[dict]) -> Any:
        """The visits as an Arrow table of ``base.visit_columns`` (money in fen; a value finer
        than a column keeps is an input problem)."""
        pa = self._pa
        data: dict[str, Any] = {}
        problems: list[InputProblem] = []
        for name, t, sql in self._base.visit_columns(self.policy):
            if name == "row_no":
                data[name] = pa.array(range(len(visits)), pa.int64())
            elif name == "setl_date":
                data[name] = pa.array([_day(v["setl_time"]) for v in visits], pa.date32())
            elif name == "setl_time":
                data[name] = pa.array(
                    [
                        v["setl_time"] if isinstance(v["setl_time"], dt.datetime) else None
                        for v in visits
                    ],
                    pa.timestamp("us"),
                )
            elif t in (V.MONEY, V.PERCENT, V.POINTS):
                scale = self._base.SCALE[t]
                data[name] = pa.array(_scaled(visits, name, scale, problems), pa.int64())
            elif t == V.NUMBER:
                data[name] = pa.array(_numbers(visits, name, problems), pa.decimal128(38, 6))
            else:
                values = [v.get(name) for v in visits]
                data[name] = pa.array(
                    _sql_texts(values) if sql == "VARCHAR" else values, self._arrow_types()[sql]
                )
        if problems:
            raise InputError(problems)
        return pa.table(data)

    def _arrow_types(self) -> dict[str, Any]:
        """The Arrow type of each SQL type of an input column (as the table path has them)."""
        from .table import _ARROW

        return _ARROW

    # ---- running a plan -------------------------------------------------------------------
    def _script(self, plan: Plan) -> list[tuple]:
        """The statements that run ``plan``, generated once: ("create", table, sql, params)
        materialises the SQL stages before a sequential step, ("kernel", stage) runs it,
        ("query", sql, params) gives the result (row order is restored by ``row_no``)."""
        got = self._scripts.get(id(plan))
        if got is not None and got[0] is plan:
            return got[1]
        from sqlglot import exp

        def text(tree):
            return (
                self._base.to_sql(tree, self.dialect, pretty=False),
                frozenset(p.name for p in tree.find_all(exp.Placeholder)),
            )

        script, pending = [], []
        for st in plan.stages:
            if st.kind == "sql":
                pending.append(st)
                continue
            if pending:
                query = exp.select(exp.Star()).from_(pending[-1].name)
                for p in pending:
                    query = query.with_(p.name, as_=p.select.copy())
                script.append(
                    ("create", pending[-1].name, *text(self._materialise(pending[-1].name, query)))
                )
                pending = []
            script.append(("kernel", st))
        query = plan.final.copy()
        for p in pending:
            query = query.with_(p.name, as_=p.select.copy())
        script.append(("query", *text(query)))
        self._scripts[id(plan)] = (plan, script)
        return script

    @staticmethod
    def _materialise(name: str, query: Any) -> Any:
        """The statement that keeps ``query``'s rows as ``name`` before a sequential step."""
        from sqlglot import exp

        return exp.Create(
            this=exp.to_table(name),
            kind="TABLE",
            expression=query,
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
        )

    def settle_table(
        self, table: Any, params: dict, state: dict | None = None, messages: bool = False
    ) -> Any:
        """Settle a ``pyarrow.Table`` of visits; a table of results in input row order, as
        ``CompiledPolicy.settle_table`` gives them (``table.settle_table``)."""
        from .table import settle_table

        return settle_table(self, table, params, state, messages)

    def limit_memory(self, size: int, spill: str | None = None) -> None:
        """Bound DuckDB's memory to ``size`` bytes (less what Python holds around it), spilling
        to ``spill`` (DuckDB's default temporary folder when None)."""
        self.con.execute(f"SET memory_limit = '{max(64, size * 6 // 10 >> 20)}MB'")
        if spill is not None:
            self.con.execute("SET temp_directory = ?", [spill])

    def table_plan(self, any_balance: bool) -> Plan:
        """The settle plan of the table path: without the account's windows when no visit
        gives a balance (the account then pays nothing, as the full plan finds)."""
        if any_balance:
            return self._lowering.plan
        if self._unbalanced is None:
            self._unbalanced = self._base.SettleLowering(
                self.policy,
                source="pl_visits",
                decimal_columns=self._number_inputs,
                balances=False,
            )
        return self._unbalanced.plan

    def _lowering_params(self, any_balance: bool) -> list[str]:
        """The parameters the settle program reads, and the account-use rules' when some visit
        has a balance (what the table path asks for, as ``CompiledPolicy.settle_table`` does)."""
        wanted = list(demands(self._settle_program).params)
        if any_balance:
            wanted += demands(self.policy.programs["may_pay"]).params
        return wanted

    def _run(
        self,
        plan: Plan,
        binds: dict,
        registered: list,
        state: dict | None,
        rows: int,
        arrow: bool = False,
    ) -> Any:
        """Run ``plan``: one query, or SQL / sequential step / SQL; the result's columns (an
        Arrow table with ``arrow``)."""
        self.con.execute(f"SET threads = {1 if rows < SMALL else self._threads}")
        temps: list[str] = []
        try:
            for step in self._script(plan):
                if step[0] == "create":
                    self.con.execute(
                        step[2], {k: v for k, v in binds.items() if k in step[3]} or None
                    )
                    temps.append(step[1])
                elif step[0] == "kernel":
                    self._kernel(step[1], registered, state)
                else:
                    got = self.con.sql(
                        step[1], params={k: v for k, v in binds.items() if k in step[2]} or None
                    ).to_arrow_table()
                    return got if arrow else got.to_pydict()
        finally:
            for t in temps:
                self.con.execute(f'DROP TABLE IF EXISTS "{t}"')
        raise AssertionError("a plan ends with its query")

    def _kernel(self, st: Stage, registered: list, state: dict | None) -> None:
        from . import sequential

        k = st.kernel
        if k is None:  # a plan's script hands only kernel stages here
            raise TypeError(st)
        cols = ", ".join(f'"{c}"' for c in ("row_no", "psn_no", *k.inputs))
        rows = self.con.sql(
            f'SELECT {cols} FROM "{st.reads}" ORDER BY psn_no, setl_date, setl_time NULLS FIRST, '
            "row_no"
        ).fetchall()
        result = sequential.run(k.mode, k.counters, rows, _seed(state), keep=len(k.outputs) > 1)
        pa = self._pa
        data = {"row_no": pa.array([r[0] for r in result], pa.int64())}
        for j, name in enumerate(k.outputs):
            data[name] = pa.array([r[1 + j] for r in result], pa.int64())
        self.con.register(k.name, pa.table(data))
        registered.append(k.name)

    # ---- state between calls -------------------------------------------------------------------
    # The SQL computes a counter's period bucket as an integer (the year, year*100+month,
    # year*10000+month*100+day) and its ``each`` value as text; the state holds the keys
    # every backend uses (a year, a (year, month) tuple, a date; the field's value).
    def _register_state(self, state: dict, registered: list) -> None:
        pa = self._pa
        used = [(k, v) for k, v in state["used"].items() if k[2] != "visit"]
        self.con.register(
            "pl_state",
            pa.table(
                {
                    "psn_no": pa.array(_sql_texts([k[0] for k, _ in used]), pa.string()),
                    "counter": pa.array([k[1] for k, _ in used], pa.string()),
                    "bucket": pa.array([_bucket_int(k[2]) for k, _ in used], pa.int64()),
                    "each_v": pa.array(
                        _sql_texts([_each_text(k[3]) for k, _ in used]), pa.string()
                    ),
                    "used": pa.array([v for _, v in used], pa.int64()),
                }
            ),
        )
        balances = list(state["balances"].items())
        self.con.register(
            "pl_balances",
            pa.table(
                {
                    "psn_no": pa.array(_sql_texts([k for k, _ in balances]), pa.string()),
                    "balc": pa.array([v for _, v in balances], pa.int64()),
                }
            ),
        )
        registered += ["pl_state", "pl_balances"]

    def _keep_state(
        self,
        state: dict,
        journal: list | None,
        visits: list,
        order: list,
        cols: dict,
        index: list,
        plan: Plan,
    ) -> None:
        """What each visit used of each counter that applies to it, in settlement order: the
        state after the call, and the charges (the difference from what the key held)."""
        used = state["used"]
        counters = self._counters
        for i in order:
            p = index[i]
            v = visits[i]
            psn = v["psn_no"]
            when = _day(v["setl_time"])
            for cid, after_col, _bucket_col, _each_col in plan.state_counters:
                after = cols[after_col][p]
                if after is None:
                    continue
                counter = counters[cid]
                key = (
                    psn,
                    cid,
                    bucket(counter.period, when, i),
                    v.get(counter.each) if counter.each else None,
                )
                after = int(after)
                if journal is not None:
                    journal.append((i, key, after - used.get(key, 0)))
                used[key] = after
            if cols["balc"][p] is not None:
                state["balances"][psn] = int(cols["balc"][p])

    # ---- credit and may-pay ---------------------------------------------------------------------
    def may_pay(self, records: Any, params: dict) -> list[MayPayResult]:
        requests = validate_requests(records, self.policy)
        if not requests:
            return []
        pa = self._pa
        table = pa.table(
            {
                "row_no": pa.array(range(len(requests)), pa.int64()),
                "relation": pa.array([r["relation"] for r in requests], pa.string()),
                "item": pa.array([r["item"] for r in requests], pa.string()),
                "venue": pa.array(_sql_texts([r.get("venue") for r in requests]), pa.string()),
                "networked": pa.array([r["networked"] for r in requests], pa.bool_()),
                "on": pa.array([r["on"] for r in requests], pa.date32()),
            }
        )
        if self._may_pay is None:
            self._may_pay = self._base.MayPayLowering(self.policy)
        binds = self._binds(params, list(demands(self.policy.programs["may_pay"]).params))
        cols = self._query(self._may_pay.plan, "pl_requests", table, binds)
        verdicts = self._may_pay.verdicts
        out = []
        for i, r in enumerate(requests):
            code, channel = cols["verdict"][i], cols["channel"][i]
            verdict = verdicts[code] if code >= 0 else None
            reason = (
                "not_in_force" if code == -2 else verdict.reason if verdict else "item_not_allowed"
            )
            out.append(may_pay_result(r, verdict, reason, channel, False))
        return out

    def credit(self, records: Any, params: dict) -> list[CreditResult]:
        persons = validate_persons(records, self.policy)
        if not persons:
            return []
        if self._credit_plan is None:
            self._credit_plan = self._base.CreditLowering(self.policy)
        binds = self._binds(params, list(demands(self.policy.programs["credit"]).params))
        cols = self._query(
            self._credit_plan.plan, "pl_persons", self._persons_table(persons), binds
        )
        rules = self._credit_plan.rules
        problems, out = [], []
        for i, p in enumerate(persons):
            err = cols["err"][i]
            if err is not None:
                problems.append(_credit_problem(err, i, p.get("psn_no"), rules))
                continue
            out.append(_credit_result(p, cols["rule"][i], cols["credit"][i], rules))
        if problems:
            raise InputError(problems)
        return out

    def _persons_table(self, persons: list[dict]) -> Any:
        """The persons as an Arrow table of ``base.person_columns`` (money in fen)."""
        pa = self._pa
        data: dict[str, Any] = {"row_no": pa.array(range(len(persons)), pa.int64())}
        for name, t, sql in self._base.person_columns(self.policy):
            if name == "row_no":
                continue
            values = [p.get(name) for p in persons]
            if t == V.NUMBER:
                data[name] = pa.array(
                    [
                        None if x is None else x.quantize(Decimal("0.000001"), context=CTX)
                        for x in values
                    ],
                    pa.decimal128(38, 6),
                )
                continue
            if t in self._base.SCALE:
                scale = self._base.SCALE[t]
                values = [None if x is None else int(x.scaleb(scale, CTX)) for x in values]
            if sql == "VARCHAR":
                values = _sql_texts(values)
            data[name] = pa.array(values, self._arrow_types()[sql])
        return pa.table(data)

    def _query(self, plan: Plan, source: str, table: Any, binds: dict) -> dict:
        self.con.register(source, table)
        try:
            return self._run(plan, binds, [], None, table.num_rows)
        finally:
            self.con.unregister(source)


def _scaled(
    visits: list[dict], name: str, scale: int, problems: list[InputProblem]
) -> list[int | None]:
    """Field ``name`` of each visit as an integer at ``scale`` (money in fen); a value with
    more decimals is a problem (and 0)."""
    values: list[int | None] = []
    for i, v in enumerate(visits):
        x = v.get(name)
        if x is None:
            values.append(None)
            continue
        y = x.scaleb(scale, CTX)
        if y != y.to_integral_value(context=CTX):
            problems.append(
                InputProblem(i + 1, name, f"has more than {scale} decimals", v.get("psn_no"))
            )
            y = Decimal(0)
        values.append(int(y))
    return values


def _numbers(visits: list[dict], name: str, problems: list[InputProblem]) -> list[Decimal | None]:
    """Field ``name`` of each visit to 6 decimals; a value with more is a problem (and absent)."""
    values: list[Decimal | None] = []
    for i, v in enumerate(visits):
        x = v.get(name)
        if x is not None and x != x.quantize(Decimal("0.000001"), context=CTX):
            problems.append(
                InputProblem(
                    i + 1,
                    name,
                    "has more than 6 decimals, which the duckdb backend does not keep",
                    v.get("psn_no"),
                )
            )
            x = None
        values.append(None if x is None else x.quantize(Decimal("0.000001"), context=CTX))
    return values


def _credit_result(p: dict, code: int, fen: Any, rules: list) -> CreditResult:
    """The result for person ``p``: the rule the query chose (-1: none; -2: no version in
    force) and its credit in fen."""
    rule = rules[code] if code >= 0 else None
    reason = "credited" if rule else "not_in_force" if code == -2 else "no_rule"
    value = None if rule is None else yuan(int(fen))
    on = p["on"]
    words = partial(credit_message, reason, on, rule.name if rule else None)
    return CreditResult(
        p["psn_no"],
        on.isoformat(),
        value,
        reason,
        rule.name if rule else None,
        rule.prov.clause if rule else None,
        words(),
        (),
        words,
    )


def _raise_errors(cols: dict, index: list[int], visits: list[dict]) -> None:
    """The records the plan flagged (``err``), in record order as the reference reports them."""
    errors = cols.get("err")
    if errors is None or all(e is None for e in errors):
        return
    problems = []
    for i in range(len(visits)):
        code = errors[index[i]]
        if code is not None:
            problems.append(_problem(code, i, visits[i].get("psn_no")))
    raise InputError(problems)


def _seed(state: dict | None) -> dict | None:
    """What earlier calls used, keyed as the SQL has the keys (for ``sequential.run``)."""
    if state is None:
        return None
    return {
        (_sql_text(k[0]), k[1], _bucket_int(k[2]), _sql_text(_each_text(k[3]))): v
        for k, v in state["used"].items()
        if k[2] != "visit"
    }


def _day(t: dt.date) -> dt.date:
    return t.date() if isinstance(t, dt.datetime) else t


def _fen(amount: Decimal) -> int:
    return int(amount.scaleb(2, CTX))


def _message(
    reason: str,
    pid: str,
    has_pooling: bool,
    when: dt.date,
    ratio_e4: int | None,
    remaining: int,
    raw: int,
    fund: int,
    banded: bool,
) -> Callable[..., str]:
    """The message as a function of the language, built when first read (as the others do)."""

    def render(lang: str = "en") -> str:
        ratio = None if ratio_e4 is None else Decimal(int(ratio_e4)).scaleb(-4, CTX)
        return settle_message(
            reason,
            pid,
            has_pooling,
            when,
            ratio,
            yuan(int(remaining)),
            yuan(int(raw)),
            yuan(fund),
            banded,
            lang,
        )

    return render


def _sql_text(value: Any) -> Any:
    """Text as DuckDB can hold it: valid text is itself, and text it cannot hold (a lone
    surrogate, which the inputs accept in an identifier) is written as NUL and the hex of its
    bytes, as is text that begins with NUL, so that no two values meet (the results take the
    text from the records, never from the query)."""
    if not isinstance(value, str) or (value.isascii() and not value.startswith("\0")):
        return value
    try:
        value.encode("utf-8")
        if not value.startswith("\0"):
            return value
    except UnicodeEncodeError:
        pass
    return "\0" + value.encode("utf-8", "surrogatepass").hex()


def _sql_texts(values: list) -> list:
    return [_sql_text(v) for v in values]


def _bucket_int(b: Any) -> int:
    """A ledger key's period bucket as the SQL computes it."""
    if isinstance(b, tuple):
        return b[0] * 100 + b[1]
    if isinstance(b, dt.date):
        return b.year * 10000 + b.month * 100 + b.day
    return int(b)


def _each_text(value: object) -> str | None:
    """A ledger key's ``each`` value as the SQL's cast to VARCHAR gives it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _problem(code: str, i: int, psn: Any) -> InputProblem:
    kind, _, arg = code.partition(":")
    if kind == "M":
        return InputProblem(i + 1, arg, "is required by the rule that applies to this record", psn)
    if kind == "N":
        return InputProblem(
            i + 1,
            "(record)",
            "no row of a decision table of the policy applies to this record",
            psn,
        )
    if kind == "R":
        value = Decimal(int(arg)).scaleb(-4, CTX)
        return InputProblem(
            i + 1,
            "(record)",
            f"the ratio that applies comes to {percent(value)}, outside 0%..100%; "
            "check the parameters",
            psn,
        )
    if kind == "F":
        return InputProblem(
            i + 1, arg, "has more than two decimal places (amounts are in fen)", psn
        )
    return InputProblem(i + 1, "(record)", f"cannot be settled ({code})", psn)


def _credit_problem(code: str, i: int, psn: Any, rules: list) -> InputProblem:
    kind, _, arg = code.partition(":")
    if kind == "C":
        index, _, fen = arg.partition(":")
        from ...runtime import money

        return InputProblem(
            i + 1,
            "(record)",
            f"credit rule {rules[int(index)].name} gives a negative credit "
            f"({money(yuan(int(fen)))}); check the parameters and inputs",
            psn,
        )
    return _problem(code, i, psn)
