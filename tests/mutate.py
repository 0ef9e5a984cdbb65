"""Mutations of policy sources for robustness testing (used by test_fuzz.py and scripts/fuzz.py)."""

from __future__ import annotations

import random
import re

from policylang.parser import keyword_pairs

ODD_CHARS = [
    "{",
    "}",
    "(",
    ")",
    ":",
    ",",
    "%",
    '"',
    "“",
    "”",
    "#",
    "\n",
    " ",
    "0",
    "9",
    ".",
    "-",
    "+",
    "|",
    "*",
    "[",
    "]",
    "=",
    ">=",
    "\u200b",
    "\u202e",
    "\u0430",
    "１",
    "５",
    "％",
    "：",
    "，",
    "。",
    "、",
    "\t",
    "元",
    "年",
    "一",
    "二(一)",
    "\\",
    "\x00",
    "\ufeff",
    "𝟙",
    "é",
]
NUMBERS = ["0", "-1", "100", "101", "150.5", "99999999999999999999", "0.001", "-0", "1e5", "７５"]


def _keywords() -> list[str]:
    return [w for pair in keyword_pairs().values() for w in pair]


def mutate(text: str, rnd: random.Random) -> str:
    op = rnd.randrange(9)
    if not text:
        return rnd.choice(ODD_CHARS)
    i = rnd.randrange(len(text))
    if op == 0:  # delete a span
        return text[:i] + text[i + rnd.randint(1, 12) :]
    if op == 1:  # insert an odd character
        return text[:i] + rnd.choice(ODD_CHARS) + text[i:]
    token = _token_edit(op, text, rnd)
    if token is not None:
        return token
    lines = text.split("\n")
    j = rnd.randrange(len(lines))
    if op in (4, 5, 6):
        return _line_edit(op, lines, j, rnd)
    if op == 7:  # replace a name with a near miss
        near = _near_miss(text, rnd)
        if near is not None:
            return near
    # truncate
    return text[:i]


def _token_edit(op: int, text: str, rnd: random.Random) -> str | None:
    """Ops 2 and 3: a number or a keyword replaced; None when there is none (or another op)."""
    if op == 2:  # replace a number
        nums = list(re.finditer(r"\d+(\.\d+)?", text))
        if nums:
            m = rnd.choice(nums)
            return text[: m.start()] + rnd.choice(NUMBERS) + text[m.end() :]
    if op == 3:  # replace a keyword with another keyword
        kws = _keywords()
        found = [m for m in re.finditer(r"[^\W\d]\w*", text) if m.group() in kws]
        if found:
            m = rnd.choice(found)
            return text[: m.start()] + rnd.choice(kws) + text[m.end() :]
    return None


def _line_edit(op: int, lines: list[str], j: int, rnd: random.Random) -> str:
    if op == 4:  # drop a line
        return "\n".join(lines[:j] + lines[j + 1 :])
    if op == 5:  # duplicate a line
        return "\n".join(lines[: j + 1] + [lines[j]] + lines[j + 1 :])
    # swap two lines
    k = rnd.randrange(len(lines))
    lines[j], lines[k] = lines[k], lines[j]
    return "\n".join(lines)


def _near_miss(text: str, rnd: random.Random) -> str | None:
    names = list(re.finditer(r"[a-z_]{4,}", text))
    if not names:
        return None
    m = rnd.choice(names)
    word = m.group()
    k = rnd.randrange(len(word))
    return text[: m.start()] + word[:k] + word[k + 1 :] + text[m.end() :]


def mutants(sources: list[str], count: int, seed: int = 0, max_ops: int = 3):
    rnd = random.Random(seed)
    for _ in range(count):
        text = rnd.choice(sources)
        for _ in range(rnd.randint(1, max_ops)):
            text = mutate(text, rnd)
        yield text
