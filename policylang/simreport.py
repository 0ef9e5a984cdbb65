"""The report of ``policylang simulate``: a summary (JSON), tables in the terminal (rich) and
one self-contained HTML page with its charts drawn as inline SVG (nothing fetched, no script).

Every amount is summed in integer fen and shown in yuan with two decimals; the difference is
reform − baseline (a positive amount is more paid by the fund), as ``resettle`` reports it."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from .messages import text, value
from .runtime import fen_text
from .vocab import FUNDS

if TYPE_CHECKING:
    from rich.console import Console

    from .simulate import Outcome, Tally

SCALARS = (  # (field of Tally, message id, money?)
    ("fund", "sim.fund", True),
    ("medfee", "sim.medfee", True),
    ("deductible", "sim.deductible", True),
    ("account", "sim.account", True),
    ("visits", "sim.visits", False),
    ("persons", "sim.persons", False),
    ("within_deductible", "sim.within_deductible", False),
    ("persons_capped", "sim.persons_capped", False),
)
BREAKDOWNS = (
    ("by_fund", "sim.by_fund", "sim.fund_name"),  # shown when a policy has several funds
    ("by_month", "sim.by_month", "sim.month"),
    ("by_level", "sim.by_level", "sim.level"),
    ("by_category", "sim.by_category", "sim.category"),
)
LEVEL_ORDER = ("unrated", "level1", "level2", "level3")
COLORS = {"baseline": "#4e79a7", "reform": "#f28e2b"}


def _columns(outcome: "Outcome") -> list[str]:
    labels = list(outcome.tallies)
    return labels + (["difference"] if len(labels) == 2 else [])


def _get(outcome: "Outcome", label: str, f: str, key: str | None = None) -> int:
    """A scalar (or a breakdown's value at ``key``) of a run, or reform − baseline."""
    if label == "difference":
        a, b = list(outcome.tallies)
        return _get(outcome, b, f, key) - _get(outcome, a, f, key)
    t = outcome.tallies[label]
    got = getattr(t, f)
    return got.get(key, 0) if key is not None else got


def _keys(outcome: "Outcome", f: str) -> list[str]:
    keys: set[str] = set()
    for t in outcome.tallies.values():
        keys |= set(getattr(t, f))
    if f == "by_level":
        return sorted(keys, key=lambda k: (LEVEL_ORDER.index(k) if k in LEVEL_ORDER else 9, k))
    if f == "by_fund":  # the platform's order of the funds
        return [k for k in FUNDS if k in keys]
    return sorted(keys, key=str)


def _breakdowns(outcome: "Outcome") -> list[tuple[str, str, str]]:
    """The breakdowns the report shows: by fund only when a policy has more than one (with
    one, it repeats the total)."""
    several = len(_keys(outcome, "by_fund")) > 1
    return [b for b in BREAKDOWNS if b[0] != "by_fund" or several]


def key_text(f: str, key: str | None, lang: str) -> str:
    if key is None:
        return "—"
    if f == "by_category":
        base, _, flexible = str(key).partition("+")
        shown = value(base, lang)
        return text("sim.flexible", lang, category=shown) if flexible else shown
    if f == "by_level":
        return value(key, lang)
    if f == "by_fund":  # 统筹基金 (hifp_pay)
        field = FUNDS[key][0]
        return f"{text(f'col.{field}', lang)} ({field})"
    return str(key)


def amount(n: int, money: bool, signed: bool = False) -> str:
    if money:
        s = fen_text(abs(n))
        whole, _, cents = s.partition(".")
        s = f"{int(whole):,}.{cents}"
    else:
        s = f"{abs(n):,}"
    return ("-" if n < 0 else "+" if signed and n > 0 else "") + s


def summary(outcome: "Outcome") -> dict:
    """The report as JSON (summary.json): money as yuan strings."""

    def one(t: "Tally") -> dict:
        out: dict = {}
        for f, _, money in SCALARS:
            out[f] = fen_text(getattr(t, f)) if money else getattr(t, f)
        for f, _, _ in BREAKDOWNS:
            out[f] = {str(k): fen_text(v) for k, v in sorted(getattr(t, f).items(), key=str)}
        out["reasons"] = dict(sorted(t.reasons.items()))
        return out

    runs = {}
    for label, t in outcome.tallies.items():
        pid, h = outcome.policies[label]
        runs[label] = {"policy": pid, "ir_hash": h, **one(t)}
    out = {
        "claims": outcome.claims,
        "engine": outcome.engine,
        "partitions": outcome.buckets,
        "visits": outcome.visits,
        "runs": runs,
    }
    if len(outcome.tallies) == 2:
        diff: dict = {}
        for f, _, money in SCALARS:
            d = _get(outcome, "difference", f)
            diff[f] = fen_text(d) if money else d
        for f, _, _ in BREAKDOWNS:
            diff[f] = {
                str(k): fen_text(_get(outcome, "difference", f, k)) for k in _keys(outcome, f)
            }
        out["difference"] = diff
    return out


# ---- the terminal -----------------------------------------------------------------------------


def _heads(outcome: "Outcome", lang: str) -> list[str]:
    return [text(f"sim.{c}", lang) for c in _columns(outcome)]


def _subtitle(outcome: "Outcome", lang: str) -> str:
    first = next(iter(outcome.tallies.values()))
    return text(
        "sim.subtitle",
        lang,
        visits=f"{outcome.visits:,}",
        persons=f"{first.persons:,}",
        engine=outcome.engine,
        buckets=outcome.buckets,
    )


def print_report(outcome: "Outcome", lang: str, console: Console) -> None:
    """Tables in the terminal (rich measures Chinese text by its display width)."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text(text("sim.title", lang, claims=outcome.claims), style="bold"))
    console.print(Text(_subtitle(outcome, lang)))
    for label, (pid, h) in outcome.policies.items():
        policy = text("sim.policy", lang, id=pid, hash=h[:19])
        console.print(Text(f"{text(f'sim.{label}', lang)}: {policy}"))
    cols = _columns(outcome)
    table = Table(show_lines=False)
    table.add_column(text("sim.measure", lang))
    for h in _heads(outcome, lang):
        table.add_column(h, justify="right")
    for f, mid, money in SCALARS:
        table.add_row(
            text(mid, lang),
            *(amount(_get(outcome, c, f), money, c == "difference") for c in cols),
        )
    console.print(table)
    for f, mid, head in _breakdowns(outcome):
        console.print(Text(text(mid, lang), style="italic"))
        t = Table()
        t.add_column(text(head, lang))
        for h in _heads(outcome, lang):
            t.add_column(h, justify="right")
        for k in _keys(outcome, f):
            t.add_row(
                key_text(f, k, lang),
                *(amount(_get(outcome, c, f, k), True, c == "difference") for c in cols),
            )
        t.add_section()
        t.add_row(
            text("sim.total", lang),
            *(amount(_get(outcome, c, "fund"), True, c == "difference") for c in cols),
        )
        console.print(t)
    if len(cols) == 3:
        console.print(Text(text("sim.difference_note", lang), style="dim"))
    console.print(Text(text("sim.capped_note", lang), style="dim"))


# ---- HTML -------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, "Noto Sans CJK SC", "PingFang SC", sans-serif; margin: 2em auto;
       max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #888; }
.note { color: #666; font-size: 0.9em; }
svg { display: block; margin: 0.5em 0 1em; }
.legend span { display: inline-block; margin-right: 1.5em; }
.legend i { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; }
"""


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _nice_top(v: int) -> int:
    """A round number at least ``v`` for the chart's scale (in fen)."""
    if v <= 0:
        return 100
    step = 10 ** (len(str(v)) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * step:
            return int(m * step)
    return 10 * step  # pragma: no cover


def bar_chart(keys: list[str], labels: list[str], series: list[tuple[str, str, list[int]]]) -> str:
    """A grouped bar chart as inline SVG: one group per key, one bar per series (amounts in
    fen, shown in yuan); axis with five ticks; every bar titled with its amount."""
    width, height, left, bottom, top = 720, 260, 90, 60, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    biggest = max([0, *(v for _, _, vals in series for v in vals)])
    scale = _nice_top(biggest)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" class="chart">'
    ]
    for i in range(6):
        y = top + plot_h - plot_h * i / 5
        tick = amount(scale * i // 5 // 100 * 100, True).rsplit(".", 1)[0]
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{tick}</text>'
        )
    group = plot_w / max(1, len(keys))
    bar = group * 0.8 / max(1, len(series))
    for g, label in enumerate(labels):
        x0 = left + g * group + group * 0.1
        for s, (_, color, vals) in enumerate(series):
            v = max(0, vals[g])
            h = plot_h * v / scale
            out.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{_e(label)}: {amount(vals[g], True)}'
                "</title></rect>"
            )
        cx = left + g * group + group / 2
        rotate = (
            f' transform="rotate(-35 {cx:.1f} {height - bottom + 14})"' if len(keys) > 6 else ""
        )
        out.append(
            f'<text x="{cx:.1f}" y="{height - bottom + 14}" font-size="11" '
            f'text-anchor="{"end" if rotate else "middle"}"{rotate}>{_e(label)}</text>'
        )
    base = top + plot_h
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#888"/>')
    out.append("</svg>")
    return "".join(out)


def _html_table(head: list[str], rows: list[list[str]], total: list[str] | None = None) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append(
            "<tr>"
            + "".join(f"<td{' class=n' if i else ''}>{_e(c)}</td>" for i, c in enumerate(row))
            + "</tr>"
        )
    if total:
        out.append(
            '<tr class="total">'
            + "".join(f"<td{' class=n' if i else ''}>{_e(c)}</td>" for i, c in enumerate(total))
            + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def html_report(outcome: "Outcome", lang: str) -> str:
    """One self-contained page: the summary table, and per breakdown a chart and a table."""
    cols = _columns(outcome)
    heads = _heads(outcome, lang)
    title = text("sim.title", lang, claims=outcome.claims)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{_e(_subtitle(outcome, lang))}</p><ul>",
        *(
            f"<li>{_e(text(f'sim.{label}', lang))}: "
            f"{_e(text('sim.policy', lang, id=pid, hash=h))}</li>"
            for label, (pid, h) in outcome.policies.items()
        ),
        "</ul>",
        _html_table(
            [text("sim.measure", lang), *heads],
            [
                [
                    text(mid, lang),
                    *(amount(_get(outcome, c, f), money, c == "difference") for c in cols),
                ]
                for f, mid, money in SCALARS
            ],
        ),
    ]
    legend = "".join(
        f'<span><i style="background:{COLORS[label]}"></i>{_e(text(f"sim.{label}", lang))}</span>'
        for label in outcome.tallies
    )
    for f, mid, head in _breakdowns(outcome):
        keys = _keys(outcome, f)
        labels = [key_text(f, k, lang) for k in keys]
        series = [
            (label, COLORS[label], [_get(outcome, label, f, k) for k in keys])
            for label in outcome.tallies
        ]
        parts += [
            f"<h2>{_e(text(mid, lang))}</h2>",
            f'<div class="legend">{legend}</div>',
            bar_chart(keys, labels, series),
            _html_table(
                [text(head, lang), *heads],
                [
                    [lab, *(amount(_get(outcome, c, f, k), True, c == "difference") for c in cols)]
                    for k, lab in zip(keys, labels, strict=True)
                ],
                [
                    text("sim.total", lang),
                    *(amount(_get(outcome, c, "fund"), True, c == "difference") for c in cols),
                ],
            ),
        ]
    notes = [text("sim.capped_note", lang)]
    if len(cols) == 3:
        notes.insert(0, text("sim.difference_note", lang))
    parts += [f'<p class="note">{_e(n)}</p>' for n in notes]
    parts += [f'<p class="note">{_e(text("sim.generated", lang))}</p>', "</body></html>\n"]
    return "\n".join(parts)
