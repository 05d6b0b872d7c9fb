"""The condition language's tokenizer, and the problem a condition can have.

Hand-written on one regular expression: strings with backslash escapes, numbers,
durations (``30d``, ``-2h``), names, comparison operators and punctuation. The
operators of other languages (``=``, ``&&``, ``||``, ``!``) get a hint instead of a
bare "unexpected character".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["ConditionProblem", "Stop", "Token", "tokenize"]


@dataclass(frozen=True)
class ConditionProblem:
    """One problem, ``offset`` characters into the condition text."""

    offset: int
    message: str


class Stop(Exception):
    """A syntax error: parsing cannot go on."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.problem = ConditionProblem(offset, message)


@dataclass(frozen=True)
class Token:
    kind: Literal["num", "dur", "str", "name", "op", "(", ")", "[", "]", ",", "end"]
    text: str
    offset: int
    value: str = ""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<dur>\d+(?:\.\d+)?(?:s|m|h|d|w)(?![A-Za-z0-9_]))
  | (?P<num>\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
    """,
    re.VERBOSE,
)

_MISTAKES = {
    "=": "use == to compare ('=' alone is not an operator)",
    "&": "use 'and' to combine conditions",
    "|": "use 'or' to combine conditions",
    "!": "use 'not' to negate, or != to compare",
}


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise Stop(start, f"a string is not closed; add the closing {quote}")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            value, end = _read_string(text, i)
            tokens.append(Token("str", text[i:end], i, value))
            i = end
            continue
        if ch == "-" and i + 1 < len(text) and text[i + 1].isdigit():
            match = _TOKEN.match(text, i + 1)
            if match and match.lastgroup in ("num", "dur"):
                kind: Literal["num", "dur"] = "num" if match.lastgroup == "num" else "dur"
                tokens.append(Token(kind, text[i : match.end()], i))
                i = match.end()
                continue
        match = _TOKEN.match(text, i)
        if match is None:
            two = text[i : i + 2]
            if two in ("&&", "||"):
                raise Stop(i, _MISTAKES[two[0]])
            if ch in _MISTAKES:
                raise Stop(i, _MISTAKES[ch])
            raise Stop(i, f"unexpected character {ch!r}")
        group = match.lastgroup
        token_text = match.group()
        if group == "dur":
            tokens.append(Token("dur", token_text, i))
        elif group == "num":
            tokens.append(Token("num", token_text, i))
        elif group == "name":
            tokens.append(Token("name", token_text, i))
        elif group == "op":
            tokens.append(Token("op", token_text, i))
        elif group == "punct":
            tokens.append(Token(token_text, token_text, i))  # type: ignore[arg-type]
        i = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens
