"""Every sentence a policy quotes from its notice is in the notice, word for word.

A policy file names its source in its header (``# Source: docs/notices/NAME.txt``); the
notices are kept in the repository (docs/notices/), so a clean clone can check the quotes.
A quote may leave words out with ``……``: each part must then be found, in order.  Line
breaks and spaces are not compared (the notices wrap lines where the web page did).
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from policylang import nodes as n
from policylang.parser import parse

ROOT = Path(__file__).resolve().parent.parent
SOURCE = re.compile(r"^# Source: (docs/notices/[\w.-]+\.txt)", re.M)
ELISION = "……"


def _quotes(node: object) -> list[n.Citation]:
    """Every citation with a quote in an AST, in source order."""
    out: list[n.Citation] = []
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, n.Citation) and x.quote:
            out.append(x)
        if attrs.has(type(x)):
            stack.extend(reversed([getattr(x, a.name) for a in attrs.fields(type(x))]))
        elif isinstance(x, (tuple, list)):
            stack.extend(reversed(x))
    return out


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def quoted_in(quote: str, notice: str) -> bool:
    """``quote`` is in ``notice`` (both without whitespace), its ``……``-separated parts in
    order."""
    at = 0
    for part in (p for p in _flat(quote).split(ELISION) if p):
        found = notice.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return True


def _sourced() -> list[Path]:
    files = sorted((ROOT / "policies").glob("*.pol")) + sorted((ROOT / "examples").rglob("*.pol"))
    return [p for p in files if SOURCE.search(p.read_text(encoding="utf-8"))]


def test_every_shipped_policy_names_a_bundled_notice():
    shipped = sorted((ROOT / "policies").glob("*.pol"))
    assert shipped
    for p in shipped:
        m = SOURCE.search(p.read_text(encoding="utf-8"))
        assert m, f"{p.name}: no '# Source: docs/notices/...' line"
        assert (ROOT / m.group(1)).is_file(), f"{p.name}: {m.group(1)} is not in the repository"


@pytest.mark.parametrize("path", _sourced(), ids=lambda p: str(p.relative_to(ROOT)))
def test_quotes_are_the_notices_words(path: Path):
    text = path.read_text(encoding="utf-8")
    m = SOURCE.search(text)
    assert m is not None
    notice = _flat((ROOT / m.group(1)).read_text(encoding="utf-8"))
    policy, problems = parse(text, str(path))
    assert policy is not None and not problems
    cites = _quotes(policy)
    assert cites, f"{path.name} quotes nothing from {m.group(1)}"
    wrong = [f"{c.span}: {c.quote}" for c in cites if not quoted_in(c.quote or "", notice)]
    assert not wrong, "not found in the notice:\n" + "\n".join(wrong)


def test_a_changed_word_is_caught():
    notice = _flat(
        "个人账户可以用于支付职工本人及其配偶、父母、子女在定点医疗机构就医发生的由个人负担的医疗费用"
    )
    assert quoted_in("个人账户可以用于支付职工本人及其配偶、父母、子女", notice)
    assert quoted_in("个人账户可以用于支付……在定点医疗机构就医", notice)
    assert not quoted_in("个人账户可以用于支付职工本人及其配偶、兄弟", notice)
    assert not quoted_in("在定点医疗机构就医……个人账户可以用于支付", notice)  # order kept
