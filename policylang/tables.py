"""Plain-text tables for people: columns padded by display width (a Chinese character
takes two columns), numbers right-aligned, an optional totals row under a rule."""

from __future__ import annotations

from typing import Collection


def _width(s: str) -> int:
    from .diagnostics import display_width

    return display_width(s) if s else 0


def text_table(
    header: list[str],
    rows: list[list[str]],
    right: Collection[int] = frozenset(),
    total: list[str] | None = None,
) -> str:
    """``right``: the indexes of right-aligned columns."""
    body = rows + ([total] if total else [])
    widths = [max([_width(h)] + [_width(row[i]) for row in body]) for i, h in enumerate(header)]

    def line(values: list[str]) -> str:
        cells = [
            (" " * (w - _width(v)) + v) if i in right else (v + " " * (w - _width(v)))
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = line(["-" * w for w in widths])
    out = [line(header), rule]
    out.extend(line(row) for row in rows)
    if total:
        out += [rule, line(total)]
    return "\n".join(out)
