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


def normalize(text: str, file: str) -> tuple[str, list[Diagnostic]]:
    scan = _Scan(text)
    out = []
    line, col = 1, 1
    for i, ch in enumerate(text):
        out.append(scan.char(i, ch, Span(file, line, col, line, col + 1, i, i + 1)))
        if ch == "\n":
            scan.in_comment = False
            line += 1
            col = 1
        else:
            col += 1
    return "".join(out), scan.diags


class _Scan:
    """``normalize``'s walk over the text: what each character becomes, and the problems
    found, knowing whether it is inside a string or a comment."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.diags: list[Diagnostic] = []
        self.in_string: str | None = None
        self.in_comment = False

    def char(self, i: int, ch: str, span: Span) -> str:
        """What ``text[i]`` becomes."""
        hidden = self._hidden(i, ch, span)
        if hidden is not None:
            return hidden
        if self.in_comment:
            return ch
        if self.in_string:
            if (
                ch == "\n"
                or (self.in_string == '"' and ch == '"' and _unescaped(self.text, i))
                or (self.in_string == "“" and ch == "”")
            ):
                self.in_string = None
            return ch
        if ch == '"' or ch == "“":
            self.in_string = ch
            return ch
        if ch == "#" or (ch == "/" and i + 1 < self.n and self.text[i + 1] == "/"):
            self.in_comment = True
            return ch
        return self._code(i, ch, span)

    def _hidden(self, i: int, ch: str, span: Span) -> str | None:
        """A character that shows as nothing (or as something else) anywhere: reported and
        read as a space; None for any other character."""
        text = self.text
        if ch == "\r" and not (i + 1 < self.n and text[i + 1] == "\n"):
            # a lone carriage return (old Mac line ends): \r\n is fine
            self.diags.append(
                Diagnostic(
                    "P010", span, {"code": "000D", "name": "CARRIAGE RETURN without LINE FEED"}
                )
            )
            return " "
        if ch == "\ufeff" and i == 0:
            return " "  # a byte-order mark that some Windows editors write first: accepted
        if ch in BIDI:
            self.diags.append(
                Diagnostic("P011", span, {"code": f"{ord(ch):04X}", "name": BIDI[ch]})
            )
            return " "
        if ch in INVISIBLE:
            self.diags.append(
                Diagnostic("P010", span, {"code": f"{ord(ch):04X}", "name": INVISIBLE[ch]})
            )
            return " "
        return None

    def _code(self, i: int, ch: str, span: Span) -> str:
        """A character of the policy's code (not in a string or a comment)."""
        if self._digit_punct(i, ch):
            self.diags.append(Diagnostic("P013", span, {"char": ch}))
            return ch
        if ch in CONFUSABLE:
            self.diags.append(
                Diagnostic(
                    "P012",
                    span,
                    {
                        "char": ch,
                        "code": f"{ord(ch):04X}",
                        "name": unicodedata.name(ch, "?"),
                        "looks_like": CONFUSABLE[ch],
                    },
                )
            )
            return CONFUSABLE[ch]
        return _MAP.get(ch, ch)

    def _digit_punct(self, i: int, ch: str) -> bool:
        """Punctuation inside a number (``1，000``, ``1,000``): reported (P013), kept."""
        text, n = self.text, self.n
        if ch in _NUMBER_PUNCT:
            return i > 0 and _is_digit(text[i - 1]) and i + 1 < n and _is_digit(text[i + 1])
        return (
            ch == ","
            and i > 0
            and _is_digit(text[i - 1])
            and i + 3 < n
            and text[i + 1 : i + 4].isdigit()
            and (i + 4 >= n or not _is_digit(text[i + 4]))
        )


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
