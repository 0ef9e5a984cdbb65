"""``policylang render``: a summary of a compiled policy that an officer can hold
against the notice -- every number with its clause, the quoted sentence as a note.

It reads the IR only (``CompiledPolicy.ir``): the header declarations, each section's
dated versions and their statements, the effective ratio of each hospital level and
person category (the decision table and the uplifts evaluated with
``ir.evaluate``), the crediting rules, who may pay for what from the personal
account, the disease catalogue and the requirements on lower-level policies.

The summary is built once as a small document (headings, paragraphs, tables whose
cells carry note numbers) and written as Markdown or as one self-contained HTML
page (inline CSS, no scripts, no external resources).  Every text comes from the
message catalogue, in English or Chinese.
"""

from __future__ import annotations

import html
from decimal import Decimal
from typing import Any, Iterable, Union

import attrs

from . import ir
from .describe import (
    BOUND_WORDS,
    Axes,
    account_matrix,
    accumulate_words,
    axes_of,
    block_of,
    category_name,
    cond_words,
    conditional_adjustments,
    expr_words,
    ratio_matrix,
    requirement_words,
    span_words,
    value_words,
    venue_name,
    yuan,
)
from .ir.serial import content_hash
from .messages import text, value as shown, values as shown_all, vocabulary_names
from .runtime import percent

# ---- the document ---------------------------------------------------------------------


def _unique(ns: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ns))


@attrs.frozen
class Cell:
    text: str
    notes: tuple[int, ...] = attrs.field(default=(), converter=_unique)
    number: bool = False  # right-aligned
    tip: str | None = None  # shown on hover in HTML (the quoted sentence)


@attrs.frozen
class Heading:
    level: int
    text: str


@attrs.frozen
class Para:
    text: str
    notes: tuple[int, ...] = attrs.field(default=(), converter=_unique)


@attrs.frozen
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


Block = Union[Heading, Para, Table]


class Notes:
    """The quoted sentences and unstated reasons, numbered in order of first use."""

    def __init__(self, policy_id: str, lang: str):
        self.policy_id, self.lang = policy_id, lang
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def of(self, prov: ir.Prov | None) -> tuple[int, ...]:
        note = self.text(prov)
        if note is None:
            return ()
        if note not in self._index:
            self.items.append(note)
            self._index[note] = len(self.items)
        return (self._index[note],)

    def text(self, prov: ir.Prov | None) -> str | None:
        if prov is None or not (prov.quote or prov.unstated):
            return None
        where = prov.clause or ""
        if prov.policy and prov.policy != self.policy_id:
            where = f"{prov.policy} {where}".strip()
        if prov.unstated:
            body = text("render.unstated", self.lang, reason=prov.unstated)
        else:
            body = f"“{prov.quote}”"
        return f"{where} {body}".strip()


def _clause(prov: ir.Prov | None, notes: Notes) -> Cell:
    if prov is None:
        return Cell("")
    shown_clause = prov.clause or ("—" if prov.unstated else "")
    if prov.policy and prov.policy != notes.policy_id and prov.clause:
        shown_clause = f"{prov.policy} {prov.clause}"
    return Cell(shown_clause, notes.of(prov), tip=prov.quote or prov.unstated)


# ---- building the summary ----------------------------------------------------------------


def summarise(policy: ir.Policy, lang: str = "en") -> tuple[list[Block], Notes]:
    """The summary's blocks: the values of the policy's vocabulary (a category it declares)
    are named as it names them, and the ratio table has a column for each of its categories."""
    with vocabulary_names(policy.vocab):
        return _summarise(policy, lang)


def _summarise(policy: ir.Policy, lang: str) -> tuple[list[Block], Notes]:
    notes = Notes(policy.id, lang)
    out: list[Block] = [
        Heading(1, policy.title or policy.id),
        Para(text("render.summary", lang, id=policy.id, hash=content_hash(policy))),
        Para(text("render.generated", lang)),
    ]
    out.append(_header(policy, notes, lang))
    for kind in ("pooling", "crediting", "account_use"):
        section = policy.sections.get(kind)
        if section is not None:
            out += _section(policy, section, notes, lang)
    if policy.diseases:
        out += _diseases(policy, notes, lang)
    if policy.requirements:
        out += _requirements(policy, notes, lang)
    return out, notes


def _row(what: str, value: str, prov: ir.Prov | None, notes: Notes) -> tuple[Cell, ...]:
    return (Cell(what), Cell(value), _clause(prov, notes))


def _header(policy: ir.Policy, notes: Notes, lang: str) -> Table:
    rows = []
    if policy.level:
        rows.append(
            _row(text("render.level", lang), text(f"level.{policy.level}", lang), None, notes)
        )
    if policy.document:
        doc = (
            text(
                "render.dated",
                lang,
                document=policy.document,
                date=policy.document_date
                if isinstance(policy.document_date, str)
                else policy.document_date.isoformat(),
            )
            if policy.document_date
            else policy.document
        )
        rows.append(_row(text("render.document", lang), doc, None, notes))
    if policy.parent is not None:
        rows.append(
            _row(
                text("render.implements", lang),
                f"{policy.parent.id}"
                + (f" ({policy.parent.title})" if policy.parent.title else ""),
                None,
                notes,
            )
        )
    if policy.rounding is not None:
        r = policy.rounding
        unit = format(r.quantum.normalize(), "f")
        rows.append(
            _row(
                text("render.rounding", lang),
                text("render.rounding_value", lang, mode=shown(r.mode, lang), unit=unit),
                r.prov,
                notes,
            )
        )
    rows += _bill_split_rows(policy, notes, lang)
    for name, (val, prov) in sorted(policy.settings.items()):
        rows.append(_row(text("render.setting", lang, name=name), shown(val, lang), prov, notes))
    if policy.params:
        listed = ", ".join(
            text("render.param_type", lang, name=n, type=_type_name(t, lang))
            for n, t in sorted(policy.params.items())
        )
        rows.append(_row(text("render.params", lang), listed, None, notes))
    if policy.inputs:
        items = []
        for n, (t, default) in sorted(policy.inputs.items()):
            if default is None:
                items.append(text("render.input_required", lang, name=n, type=_type_name(t, lang)))
            else:
                items.append(
                    text(
                        "render.input_default",
                        lang,
                        name=n,
                        type=_type_name(t, lang),
                        default=_literal(default, lang),
                    )
                )
        rows.append(_row(text("render.inputs", lang), ", ".join(items), None, notes))
    return Table(
        (text("render.what", lang), text("render.value", lang), text("render.clause", lang)),
        tuple(rows),
    )


def _type_name(t: str, lang: str) -> str:
    from .messages import MESSAGES

    return text(f"type.{t}", lang) if f"type.{t}" in MESSAGES else t


def _literal(value: Any, lang: str) -> str:
    if isinstance(value, bool) or isinstance(value, str):
        return shown(value, lang)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return format(value, "f") if not isinstance(value, int) else str(value)


def _section(policy: ir.Policy, section: ir.Section, notes: Notes, lang: str) -> list[Block]:
    title = text(f"section.{section.kind}", lang)
    if section.title and section.title != title:
        title = text("render.section", lang, kind=title, title=section.title)
    out: list[Block] = [Heading(2, title)]
    if section.policy != policy.id:
        out.append(Para(text("render.inherited", lang, policy=section.policy)))
    if not section.versions:
        out.append(Para(text("render.no_versions", lang)))
    versions = sorted(
        section.versions, key=lambda v: (not hasattr(v.start, "isoformat"), str(v.start))
    )
    for v in versions:
        out.append(
            Heading(3, text("render.version", lang, span=span_words(v.start, v.until, lang)))
        )
        clause = _clause(v.prov, notes)
        out.append(
            Para(
                text("render.clause_line", lang, clause=clause.text) if clause.text else "",
                clause.notes,
            )
        )
        if isinstance(v.rules, ir.PoolingRules):
            out += _pooling(v.rules, notes, lang, axes_of(policy))
            for fund in v.rules.funds:
                out += _fund(v.rules, fund, notes, lang, axes_of(policy))
        elif isinstance(v.rules, ir.CreditingRules):
            out += _crediting(v.rules, notes, lang)
        else:
            out += _account(policy, v, notes, lang)
    return out


def _pooling(r: ir.PoolingRules, notes: Notes, lang: str, axes: Axes) -> list[Block]:
    rows = [
        _row(
            text("render.covers", lang),
            shown_all(r.covers, lang, axes.covers),
            r.covers_prov,
            notes,
        )
    ]
    if r.designated_only is not None:
        rows.append(
            _row(
                text("render.designated_only", lang),
                text("render.designated_only_value", lang),
                r.designated_only,
                notes,
            )
        )
    rows += _amount_rows(r, notes, lang)
    out: list[Block] = [
        Table(
            (text("render.what", lang), text("render.value", lang), text("render.clause", lang)),
            tuple(rows),
        )
    ]
    return out + _ratio_blocks(r, notes, lang, axes)


def _fund(
    r: ir.PoolingRules, fund: ir.FundRules, notes: Notes, lang: str, axes: Axes
) -> list[Block]:
    """A further fund of the version: its deductibles, caps, ratio and uplifts, as the
    pooling fund's (it covers the same visits)."""
    from .vocab import FUNDS

    field, name_zh = FUNDS[fund.name]
    title = fund.title or name_zh
    out: list[Block] = [
        Heading(4, text("render.fund", lang, name=fund.name, field=field, title=title))
    ]
    clause = _clause(fund.prov, notes)
    if clause.text:
        out.append(Para(text("render.clause_line", lang, clause=clause.text), clause.notes))
    if fund.above_cap:
        out.append(Para(text("render.fund_above_cap", lang)))
    own = r.as_fund(fund)
    header = (text("render.what", lang), text("render.value", lang), text("render.clause", lang))
    out.append(Table(header, tuple(_amount_rows(own, notes, lang))))
    return out + _ratio_blocks(own, notes, lang, axes)


def _ratio_blocks(r: ir.PoolingRules, notes: Notes, lang: str, axes: Axes) -> list[Block]:
    out: list[Block] = []
    if isinstance(r.ratio, ir.Bands):
        out += _bands(r.ratio, notes, lang)
    return out + _ratios(r, notes, lang, axes)


def _amount_rows(r: ir.PoolingRules, notes: Notes, lang: str) -> list:
    """The rows of a fund's cost caps, deductibles, caps, ratio (unless a table) and
    uplifts."""
    rows = []
    for acc in r.cost_caps:
        rows.append(
            _row(text("render.cost_cap", lang), accumulate_words(acc, lang), acc.prov, notes)
        )
    for acc in r.deductibles:
        rows.append(
            _row(text("render.deductible", lang), accumulate_words(acc, lang), acc.prov, notes)
        )
    for acc in r.caps:
        rows.append(_row(text("render.cap", lang), accumulate_words(acc, lang), acc.prov, notes))
    if isinstance(r.ratio, ir.Bands):
        rows.append(
            _row(
                text("render.ratio", lang),
                text("render.bands_cell", lang, points="").strip(),
                r.ratio_prov,
                notes,
            )
        )
    elif not isinstance(r.ratio, ir.Decide):
        rows.append(
            _row(text("render.ratio", lang), value_words(r.ratio, lang), r.ratio_prov, notes)
        )
    for a in r.adjustments:
        rows.append(
            _row(
                _adjustment_label(a, lang),
                text(
                    "render.uplift_value",
                    lang,
                    points=_signed_points(a.points, lang),
                    cond=cond_words(a.when, lang),
                ),
                a.prov,
                notes,
            )
        )
    for b in r.bounds:
        rows.append(
            _row(text(BOUND_WORDS[b.kind], lang), value_words(b.value, lang), b.prov, notes)
        )
    return rows


def _bill_split_rows(policy: ir.Policy, notes: Notes, lang: str) -> list:
    """The policy's own bill split (``in_policy excludes``), when it declares one."""
    if policy.bill_split is None:
        return []
    parts, prov = policy.bill_split
    return [_row(text("render.bill_split", lang), ", ".join(parts), prov, notes)]


def _signed_points(points: Decimal | ir.Expr, lang: str) -> str:
    from .describe import signed_points

    return signed_points(points, lang)


def _adjustment_label(a: ir.Adjust, lang: str) -> str:
    """An uplift, a reduction, or an exemption from a reduction (by the rule it lowers from)."""
    if a.prov.rule.endswith(": exempt"):
        return text("render.exemption", lang)
    if a.prov.rule.startswith("reduce"):
        return text("render.reduction", lang)
    return text("render.uplift", lang)


def _bands(b: ir.Bands, notes: Notes, lang: str) -> list[Block]:
    per = text("word.per", lang, period=text(f"period.{b.period}", lang))
    rows = []
    for limit, ratio, prov in zip(b.limits, b.values, b.provs, strict=True):
        what = (
            text("word.beyond", lang)
            if limit is None
            else text("word.until_band", lang, limit=yuan(limit, lang))
        )
        rows.append((Cell(what), Cell(percent(ratio), number=True), _clause(prov, notes)))
    return [
        Para(text("render.bands_heading", lang, per=per)),
        Table(
            (text("render.band", lang), text("render.ratio", lang), text("render.clause", lang)),
            tuple(rows),
        ),
    ]


def _ratios(r: ir.PoolingRules, notes: Notes, lang: str, axes: Axes) -> list[Block]:
    columns, rows, folded = ratio_matrix(r, lang=lang, axes=axes)
    header = (
        text("render.level_col", lang),
        *(category_name(c, lang) for c in columns),
        text("render.clause", lang),
    )
    body = []
    for levels, cells in rows:
        shown_cells = []
        for cell in cells:
            marks = tuple(n for a in cell.applied for n in notes.of(a.prov)) if cell.covered else ()
            shown_cells.append(Cell(cell.words(lang), marks, number=True))
        arms = []
        for cell in cells:
            if cell.covered and cell.arm is not None and cell.arm not in arms:
                arms.append(cell.arm)
        clause_cells = [_clause(p, notes) for p in arms]
        clause = Cell(
            ", ".join(dict.fromkeys(c.text for c in clause_cells if c.text)),
            tuple(n for c in clause_cells for n in c.notes),
            tip=" / ".join(c.tip for c in clause_cells if c.tip) or None,
        )
        body.append((Cell(shown_all(levels, lang, axes.levels)), *shown_cells, clause))
    out: list[Block] = [Heading(4, text("render.ratios_heading", lang)), Table(header, tuple(body))]
    if folded:
        out.append(Para(text("render.flexible_same", lang)))
    conditional = conditional_adjustments(r, axes=axes)
    if conditional:
        listed = "; ".join(
            text(
                "render.uplift_value",
                lang,
                points=_signed_points(a.points, lang),
                cond=cond_words(a.when, lang),
            )
            for a in conditional
        )
        out.append(
            Para(
                text("render.conditional_uplifts", lang, list=listed),
                tuple(n for a in conditional for n in notes.of(a.prov)),
            )
        )
    if isinstance(r.ratio, ir.Decide) and any(
        c.ratio is None and c.covered and not isinstance(r.ratio, ir.Bands)
        for _, cells in rows
        for c in cells
    ):
        arm_rows = tuple(
            (
                Cell(cond_words(a.when, lang)),
                Cell(expr_words(a.value, lang), number=True),
                _clause(a.prov, notes),
            )
            for a in r.ratio.arms
        )
        out.append(
            Table(
                (
                    text("render.what", lang),
                    text("render.ratio", lang),
                    text("render.clause", lang),
                ),
                arm_rows,
            )
        )
    return out


def _crediting(r: ir.CreditingRules, notes: Notes, lang: str) -> list[Block]:
    rows = tuple(
        (
            Cell(rule.name),
            Cell(cond_words(rule.when, lang)),
            Cell(expr_words(rule.amount, lang)),
            _clause(rule.prov, notes),
        )
        for rule in r.rules
    )
    return [
        Heading(4, text("render.credit_heading", lang)),
        Table(
            (
                text("render.credit_rule", lang),
                text("render.credit_when", lang),
                text("render.credit_amount", lang),
                text("render.clause", lang),
            ),
            rows,
        ),
    ]


def _permission_words(perm: ir.Permission, lang: str, axes: Axes) -> str:
    at = (
        text("render.at", lang, venues=shown_all(perm.venues, lang, axes.venues))
        if perm.venues
        else ""
    )
    for_ = (
        text("render.for", lang, relations=shown_all(perm.relations, lang, axes.relations))
        if perm.relations
        else ""
    )
    items = shown_all(perm.items, lang, axes.items)
    return text("render.items_at_for", lang, items=items, at=at, for_=for_) if at or for_ else items


def _account(policy: ir.Policy, v: ir.Version, notes: Notes, lang: str) -> list[Block]:
    r = v.rules
    assert isinstance(r, ir.AccountRules)  # the account-use section's rules
    axes = axes_of(policy)
    rows = [
        _row(
            text("render.relations", lang),
            shown_all(r.relations, lang, axes.relations),
            r.relations_prov,
            notes,
        )
    ]
    for perm in r.allows:
        rows.append(
            _row(text("render.allow", lang), _permission_words(perm, lang, axes), perm.prov, notes)
        )
    for perm in r.planned:
        rows.append(
            _row(
                text("render.planned", lang), _permission_words(perm, lang, axes), perm.prov, notes
            )
        )
    if r.excludes:
        rows.append(
            _row(
                text("render.exclude", lang),
                shown_all(r.excludes, lang, axes.items),
                r.excludes_prov,
                notes,
            )
        )
    for name, prov in r.channels:
        rows.append(_row(text("render.channel", lang), shown(name, lang), prov, notes))
    out: list[Block] = [
        Table(
            (text("render.what", lang), text("render.value", lang), text("render.clause", lang)),
            tuple(rows),
        )
    ]
    program = policy.programs.get("may_pay")
    block = block_of(program, v) if program is not None else None
    if program is not None and block is not None:
        matrix = account_matrix(program, block, axes)
        relations = list(axes.relations)
        body = []
        for item in axes.items:
            cells = []
            for rel in relations:
                got = matrix[(item, rel)]
                if isinstance(got, list):
                    cells.append(
                        Cell(
                            ("、" if lang == "zh" else ", ").join(venue_name(x, lang) for x in got)
                            if got
                            else text("account.yes", lang)
                        )
                    )
                else:
                    cells.append(Cell(text(f"account.{got}", lang)))
            body.append((Cell(shown(item, lang)), *cells))
        out += [
            Heading(4, text("render.account_heading", lang)),
            Table(
                (text("render.item_col", lang), *(shown(rel, lang) for rel in relations)),
                tuple(body),
            ),
            Para(text("render.account_note", lang)),
        ]
    return out


def _diseases(policy: ir.Policy, notes: Notes, lang: str) -> list[Block]:
    rows = []
    for d in policy.diseases:
        rows.append(
            _row(
                d.title or d.name, text("render.diseases_total", lang, total=d.total), d.prov, notes
            )
        )
        for name, count, catalogue in d.parts:
            rows.append(
                (
                    Cell(""),
                    Cell(text("render.diseases_part", lang, name=catalogue or name, count=count)),
                    Cell(""),
                )
            )
    return [
        Heading(2, text("render.diseases", lang)),
        Table(
            (text("render.what", lang), text("render.value", lang), text("render.clause", lang)),
            tuple(rows),
        ),
    ]


def _requirements(policy: ir.Policy, notes: Notes, lang: str) -> list[Block]:
    rows = tuple(
        (Cell(q.name), Cell(requirement_words(q, lang)), _clause(q.prov, notes))
        for q in policy.requirements
    )
    return [
        Heading(2, text("render.requirements", lang)),
        Table(
            (
                text("render.requirement", lang),
                text("render.value", lang),
                text("render.clause", lang),
            ),
            rows,
        ),
    ]


# ---- Markdown -----------------------------------------------------------------------------


def _md(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def _md_cell(c: Cell) -> str:
    return _md(c.text) + "".join(f"[^{n}]" for n in c.notes)


def to_markdown(policy: ir.Policy, lang: str = "en") -> str:
    blocks, notes = summarise(policy, lang)
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + _md(b.text), ""]
        elif isinstance(b, Para):
            if b.text or b.notes:
                out += [_md(b.text) + "".join(f"[^{n}]" for n in b.notes), ""]
        else:
            out.append("| " + " | ".join(_md(h) for h in b.header) + " |")
            aligns = [
                "---:" if any(r[i].number for r in b.rows) else "---" for i in range(len(b.header))
            ]
            out.append("|" + "|".join(aligns) + "|")
            for row in b.rows:
                out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
            out.append("")
    if notes.items:
        out += ["## " + text("render.notes", lang), ""]
        out += [f"[^{i}]: {_md(t)}" for i, t in enumerate(notes.items, start=1)]
        out.append("")
    return "\n".join(out)


# ---- HTML ---------------------------------------------------------------------------------

CSS = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1a1a1a; background: #fff; line-height: 1.5; }
h1 { font-size: 1.5rem; border-bottom: 2px solid #1a4d8f; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; color: #1a4d8f; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
h4 { font-size: 1rem; margin: 1rem 0 .4rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #9aa5b1; padding: .3rem .6rem; vertical-align: top; text-align: left; }
th { background: #e8eef6; }
td.num { text-align: right; white-space: nowrap; }
tr:nth-child(even) td { background: #f6f8fb; }
.clause { border-bottom: 1px dotted #555; cursor: help; }
sup a { text-decoration: none; color: #1a4d8f; }
ol.notes { font-size: .9rem; color: #333; }
p.lead { color: #444; }
@media print { a { color: inherit; } }
""".strip()  # noqa: E501 (the summary's stylesheet, kept as the snapshot has it)


def _h(s: str) -> str:
    return html.escape(s, quote=True)


def _refs(ns: tuple[int, ...]) -> str:
    return "".join(f'<sup><a href="#note-{n}">{n}</a></sup>' for n in ns)


def _html_cell(c: Cell, tag: str = "td") -> str:
    cls = ' class="num"' if c.number and tag == "td" else ""
    body = _h(c.text)
    if c.tip and c.text:
        body = f'<span class="clause" title="{_h(c.tip)}">{body}</span>'
    return f"<{tag}{cls}>{body}{_refs(c.notes)}</{tag}>"


def to_html(policy: ir.Policy, lang: str = "en") -> str:
    blocks, notes = summarise(policy, lang)
    title = policy.title or policy.id
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(title)}</title>",
        f"<style>\n{CSS}\n</style>",
        "</head>",
        "<body>",
    ]
    first_para = True
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{_h(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            if b.text or b.notes:
                cls = ' class="lead"' if first_para else ""
                out.append(f"<p{cls}>{_h(b.text)}{_refs(b.notes)}</p>")
                first_para = False
        else:
            out.append("<table>")
            out.append(
                "<thead><tr>"
                + "".join(_html_cell(Cell(h), "th") for h in b.header)
                + "</tr></thead>"
            )
            out.append("<tbody>")
            for row in b.rows:
                out.append("<tr>" + "".join(_html_cell(c) for c in row) + "</tr>")
            out.append("</tbody></table>")
    if notes.items:
        out.append(f"<h2>{_h(text('render.notes', lang))}</h2>")
        out.append('<ol class="notes">')
        out += [f'<li id="note-{i}">{_h(t)}</li>' for i, t in enumerate(notes.items, start=1)]
        out.append("</ol>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def render(policy: ir.Policy, fmt: str = "md", lang: str = "en") -> str:
    return to_html(policy, lang) if fmt == "html" else to_markdown(policy, lang)
