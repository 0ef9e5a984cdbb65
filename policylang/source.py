"""Source text hygiene, applied before lexing.

Policies are often pasted from Word documents and web pages.  Every character
that could be misread is either given a defined meaning (full-width digits and
ASCII symbols mean their ASCII twins; the ideographic space is white space; the
enumeration comma 、 separates list items) or reported.  Replacement is one
character for one character, so every line and column still points at the
original text.  Lines end at "\n" only; any other line break is reported.  Text inside
string literals and comments is left as written.
"""

from __future__ import annotations

import re
import unicodedata

from .diagnostics import Diagnostic
from .nodes import Span

# Invisible characters that change nothing visible but break lexing or comparison.
INVISIBLE = {
    "\u200b": "ZERO WIDTH SPACE",
    "\u200c": "ZERO WIDTH NON-JOINER",
    "\u200d": "ZERO WIDTH JOINER",
    "\u2060": "WORD JOINER",
    "\ufeff": "ZERO WIDTH NO-BREAK SPACE",
    "\u00ad": "SOFT HYPHEN",
    "\u180e": "MONGOLIAN VOWEL SEPARATOR",
    # line breaks other than \n: editors and lexers disagree on them, so lines would not match
    "\u2028": "LINE SEPARATOR",
    "\u2029": "PARAGRAPH SEPARATOR",
    "\u0085": "NEXT LINE",
    "\u000b": "LINE TABULATION",
    "\u000c": "FORM FEED",
    "\u0000": "NULL",
}
BIDI = {
    c: unicodedata.name(c)
    for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
}

# Characters that look like ASCII but are not (checked outside strings and comments).
CONFUSABLE = {
    "\u0430": "a",
    "\u0435": "e",
    "\u043e": "o",
    "\u0440": "p",
    "\u0441": "c",
    "\u0445": "x",
    "\u0443": "y",
    "\u0456": "i",
    "\u0410": "A",
    "\u0415": "E",
    "\u041e": "O",
    "\u0420": "P",
    "\u0421": "C",
    "\u0425": "X",
    "\u03bf": "o",
    "\u039f": "O",
    "\u03b1": "a",
    "\u2212": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u3007": "0",  # 〇 (ideographic number zero) where a digit is expected
    "\u00b4": "'",
    "\u2018": "'",
    "\u2019": "'",
}

# Defined meanings (outside strings and comments).
_MAP = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}  # full-width ASCII forms
_MAP.update({"\u3000": " ", "\u00a0": " ", "、": ",", "【": "[", "】": "]", "〔": "(", "〕": ")"})
# Other spaces (thin, narrow, figure ...) from word processors are white space.
_MAP.update({chr(c): " " for c in range(0x2000, 0x200B)})
_MAP.update({"\u202f": " ", "\u205f": " "})
# A full-width quote would open a string: keep those out of the map.
_MAP.pop("\uff02", None)
# Characters that are errors inside a number (1,500 or 150。5).
_NUMBER_PUNCT = {"。", "，", "．"}


# Every character ``normalize`` may act on, or that changes its state (strings, comments,
# lines); the text between two of them is copied as it is.
_SPECIAL = re.compile(
    "["
    + re.escape(
        "".join(
            {
                "\r",
                "\n",
                '"',
                "\u201c",
                "\u201d",
                "#",
                "/",
                ",",
                *INVISIBLE,
                *BIDI,
                *CONFUSABLE,
                *_MAP,
                *_NUMBER_PUNCT,
            }
        )
    )
    + "]"
)


class _Scan:
    """The state of ``normalize`` between two special characters."""

    __slots__ = ("text", "file", "diags", "line", "line_start", "in_string", "in_comment")

    def __init__(self, text: str, file: str):
        self.text, self.file = text, file
        self.diags: list[Diagnostic] = []
        self.line, self.line_start = 1, 0
        self.in_string: str | None = None
        self.in_comment = False

    def report(self, code: str, i: int, args: dict) -> None:
        col = i - self.line_start + 1
        self.diags.append(
            Diagnostic(code, Span(self.file, self.line, col, self.line, col + 1, i, i + 1), args)
        )

    def visit(self, ch: str, i: int) -> str:
        """What the character at ``i`` reads as (itself, mostly); reports what it must."""
        text = self.text
        repl = ch
        if ch == "\r" and not text.startswith("\n", i + 1):
            # a lone carriage return (old Mac line ends): \r\n is fine
            self.report("P010", i, {"code": "000D", "name": "CARRIAGE RETURN without LINE FEED"})
            repl = " "
        elif ch == "\ufeff" and i == 0:
            repl = " "  # a byte-order mark that some Windows editors write first: accepted
        elif ch in BIDI:
            self.report("P011", i, {"code": f"{ord(ch):04X}", "name": BIDI[ch]})
            repl = " "
        elif ch in INVISIBLE:
            self.report("P010", i, {"code": f"{ord(ch):04X}", "name": INVISIBLE[ch]})
            repl = " "
        elif not self.in_comment:
            repl = self._outside_comments(ch, i)
        if ch == "\n":
            self.in_comment = False
            self.line += 1
            self.line_start = i + 1
        return repl

    def _outside_comments(self, ch: str, i: int) -> str:
        text = self.text
        if self.in_string:
            if (
                ch == "\n"
                or (self.in_string == '"' and ch == '"' and _unescaped(text, i))
                or (self.in_string == "\u201c" and ch == "\u201d")
            ):
                self.in_string = None
        elif ch == '"' or ch == "\u201c":
            self.in_string = ch
        elif ch == "#" or (ch == "/" and text.startswith("/", i + 1)):
            self.in_comment = True
        elif (ch in _NUMBER_PUNCT or ch == ",") and _digit_punctuation(text, i):
            self.report("P013", i, {"char": ch})
        elif ch in CONFUSABLE:
            args = {
                "char": ch,
                "code": f"{ord(ch):04X}",
                "name": unicodedata.name(ch, "?"),
                "looks_like": CONFUSABLE[ch],
            }
            self.report("P012", i, args)
            return CONFUSABLE[ch]
        elif ch in _MAP:
            return _MAP[ch]
        return ch


def _digit_punctuation(text: str, i: int) -> bool:
    """A full stop or comma inside a number (150。5), or a thousands comma (1,500)."""
    n = len(text)
    if not (i > 0 and _is_digit(text[i - 1]) and i + 1 < n):
        return False
    if text[i] != ",":
        return _is_digit(text[i + 1])
    return (
        i + 3 < n and text[i + 1 : i + 4].isdigit() and (i + 4 >= n or not _is_digit(text[i + 4]))
    )


def normalize(text: str, file: str) -> tuple[str, list[Diagnostic]]:
    """The text as the lexer reads it (one character for one) and what was reported.  Only
    the characters ``_SPECIAL`` finds are looked at, so a long plain policy costs little."""
    scan = _Scan(text, file)
    out, last = [], 0
    for m in _SPECIAL.finditer(text):
        i = m.start()
        ch = text[i]
        repl = scan.visit(ch, i)
        if repl != ch:
            out.append(text[last:i])
            out.append(repl)
            last = i + 1
    out.append(text[last:])
    return "".join(out), scan.diags


def comment_lines(text: str) -> list[int]:
    """Lines (1-based) that hold a comment, found as the lexer finds them (not inside strings)."""
    lines, line, in_string = [], 1, None
    i, size = 0, len(text)
    while i < size:
        ch = text[i]
        if in_string:
            if (
                ch == "\n"
                or (in_string == '"' and ch == '"' and _unescaped(text, i))
                or (in_string == "“" and ch == "”")
            ):
                in_string = None
        elif ch in ('"', "“"):
            in_string = ch
        elif ch == "#" or text.startswith("//", i):
            lines.append(line)
            j = text.find("\n", i)
            if j == -1:
                break
            i = j
            continue
        if ch == "\n":
            line += 1
        i += 1
    return lines


def _unescaped(text: str, i: int) -> bool:
    k = i - 1
    backslashes = 0
    while k >= 0 and text[k] == "\\":
        backslashes += 1
        k -= 1
    return backslashes % 2 == 0


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9" or "\uff10" <= ch <= "\uff19"
