"""Plain-text tables for people, laid out by rich: columns padded by display width (a
Chinese character takes two columns), numbers right-aligned, a rule under the header and
an optional totals row under a second rule.  No colour and no wrapping: the same text on
a terminal, in a pipe and in a snapshot.  rich is imported only when a table is drawn."""

from __future__ import annotations

import re
from typing import Collection


def text_table(
    header: list[str],
    rows: list[list[str]],
    right: Collection[int] = frozenset(),
    total: list[str] | None = None,
) -> str:
    """``right``: the indexes of right-aligned columns."""
    import io

    from rich import box
    from rich.console import Console
    from rich.table import Table

    rules = box.Box("    \n    \n -  \n    \n    \n -  \n    \n    \n")
    table = Table(
        box=rules,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        show_footer=total is not None,
        header_style="",
        footer_style="",
    )
    for i, h in enumerate(header):
        table.add_column(
            h,
            footer=total[i] if total else "",
            justify="right" if i in right else "left",
            no_wrap=True,
        )
    for row in rows:
        table.add_row(*row)
    out = io.StringIO()
    console = Console(
        file=out,
        width=1 << 16,
        color_system=None,
        force_terminal=False,
        highlight=False,
        markup=False,
        emoji=False,
    )
    console.print(table)
    return "\n".join(_rule(line.rstrip()) for line in out.getvalue().splitlines())


def _rule(line: str) -> str:
    """A rule spans each column's text, not the padding after it (rich draws both)."""
    if line and not line.strip("- "):
        return re.sub(r"-(?= )", " ", line)
    return line
