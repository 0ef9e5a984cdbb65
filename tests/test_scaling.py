"""The checker's cost grows with the policy, not with its square: these tests count
work (table look-ups, node comparisons), never seconds.  benchmarks/checker.py times
the large cases."""

from __future__ import annotations

import itertools

import policylang
from policylang import nodes as n
from policylang.ir.index import TableIndex


def big_table_policy(flags: int) -> str:
    """A ratio table by hosp_lv, psn_type and ``flags`` declared booleans: 6 x 2^flags rows."""
    inputs = "\n".join(f'  input f{i}: bool default false unstated "t"' for i in range(flags))
    keys = ", ".join(f"f{i}" for i in range(flags))
    rows = [
        f'        {lv}, {pt}, {", ".join(combo)}: 60% unstated "r"'
        for lv in ("unrated | level1", "level2", "level3")
        for pt in ("active", "retiree")
        for combo in itertools.product(["true", "false"], repeat=flags)
    ]
    return f"""policy big "big" {{
  level city
{inputs}
  rounding half_up to 0.01 yuan unstated "t"
  pooling {{
    from 2023-01-01 unstated "t" {{
      covers active, retiree, flexible unstated "t"
      ratio by hosp_lv, psn_type, {keys} {{
{chr(10).join(rows)}
      }} unstated "t"
    }}
  }}
}}
"""


def count_calls(monkeypatch, owner, name: str) -> list[int]:
    """Count the calls of ``owner.name`` (a one-element list, read after the work)."""
    calls = [0]
    real = getattr(owner, name)

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def _work_per_lookup(flags: int, monkeypatch) -> float:
    done = []
    real = TableIndex.mask

    def counting(self, env):
        before = self.work
        m = real(self, env)
        done.append(self.work - before)
        return m

    monkeypatch.setattr(TableIndex, "mask", counting)
    policylang.loads(big_table_policy(flags))
    return max(done)


def test_a_table_is_looked_up_per_field_not_per_row(monkeypatch):
    # 96 rows and 768 rows: the work of one look-up is bounded by the fields, not the rows
    small, large = _work_per_lookup(4, monkeypatch), _work_per_lookup(7, monkeypatch)
    assert small <= 2 + 4 and large <= 2 + 7


def test_a_big_table_checks_and_settles(monkeypatch):
    policy = policylang.loads(big_table_policy(9))  # 3072 rows
    [r] = policy.settle(
        [
            {
                "psn_no": "A",
                "psn_type": "active",
                "flxempe_flag": False,
                "setl_time": "2023-03-01",
                "hosp_lv": "level2",
                "medfee_sumamt": "100.00",
                "f3": True,
            }
        ]
    )
    assert str(r.hifp_pay) == "60.00"


def test_checking_many_declarations_compares_each_a_bounded_number_of_times(monkeypatch):
    calls = count_calls(monkeypatch, n.ParamDecl, "__eq__")
    count = 3000
    params = "\n".join(f'  param p{i}: money "p" unstated "t"' for i in range(count))
    policylang.check_paths  # noqa: B018 - imported before timing-free counting starts
    from policylang.api import check_unit
    from policylang.resolve import Workspace

    ws = Workspace()
    unit = ws.add_text(f'policy big "big" {{\n  level city\n{params}\n}}\n', "big.pol")
    check_unit(unit, ws)
    assert calls[0] <= 4 * count  # was count squared / 2


def test_hygiene_looks_only_at_the_characters_that_matter(monkeypatch):
    """source.normalize made a Span for every character of the file; now only for what it
    reports (the text between special characters is copied as it is)."""
    from policylang import source

    made = count_calls(monkeypatch, source, "Span")
    text = "\n".join(f'  param p{i}: money "p" unstated "t"' for i in range(2000))
    clean, diags = source.normalize(text + "\n  x = 1,500\u200b\n", "big.pol")
    assert clean == text + "\n  x = 1,500 \n"
    assert [d.code for d in diags] == ["P013", "P010"] and made[0] == 2


def test_loading_a_policy_runs_no_automatic_collection():
    """Every object parsing, checking and compiling make stays alive; the collector walked
    them again and again (half the time of a 10^5-statement policy)."""
    import gc

    runs = []

    def count(phase, info):
        if phase == "start":
            runs.append(info["generation"])

    policylang.loads(big_table_policy(1))  # the modules imported, the parser loaded
    gc.collect()
    gc.callbacks.append(count)
    try:
        policylang.loads(big_table_policy(6))  # 384 rows: thousands of collections before
    finally:
        gc.callbacks.remove(count)
    assert len(runs) <= 3 and gc.isenabled(), runs  # between the stages, not within them


def test_the_content_hash_is_computed_once_per_policy(monkeypatch):
    from policylang.ir import serial

    calls = count_calls(monkeypatch, serial._Writer, "policy")
    policy = policylang.loads(big_table_policy(3))
    assert calls[0] == 1  # the traced and the untraced evaluator both stamp their results
    assert policy.hash == serial.content_hash(policy.ir) and calls[0] == 1


def test_each_provenance_is_found_by_its_identity_not_by_a_scan(monkeypatch):
    """The scalar code generator scanned its list of provenances for every table row
    (quadratic in the rows); it keeps an index by identity."""
    from policylang.backends import scalar

    gens = []
    real = scalar.Gen.__init__

    def keeping(self, *args, **kwargs):
        real(self, *args, **kwargs)
        gens.append(self)

    monkeypatch.setattr(scalar.Gen, "__init__", keeping)
    policylang.loads(big_table_policy(6))  # 384 rows, each with its provenance
    rows = [g for g in gens if len(g.provs) >= 384]
    assert rows
    for g in rows:
        assert {g._prov_at[id(p)] for p in g.provs} == set(range(len(g.provs)))


def test_rendering_diagnostics_reads_each_shown_line_once(monkeypatch):
    """Each rendered diagnostic split and cleaned the whole file again: 10^5 warnings (one
    unused parameter per line) made `policylang check` quadratic."""
    from policylang import diagnostics

    count = 600
    params = "\n".join(f'  param p{i}: money "p" unstated "t"' for i in range(count))
    text = f'policy big "big" {{\n  level city\n{params}\n}}\n'
    from policylang.api import check_unit
    from policylang.resolve import Workspace

    ws = Workspace()
    result = check_unit(ws.add_text(text, "big.pol"), ws)
    warnings = [d for d in result.diagnostics if d.code == "N107"]
    assert len(warnings) == count
    shown = count_calls(monkeypatch, diagnostics, "_visible")
    rendered = [diagnostics.render(d, {"big.pol": text}) for d in warnings]
    assert shown[0] == count  # one line per diagnostic, not the file's 600 lines each
    assert "p599" in rendered[-1]
