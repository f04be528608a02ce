"""Tokenizer of the simulator's CQL subset.

Owns: turning CQL text into tokens with line/column positions (1-based lines, 0-based
columns, like Cassandra's ANTLR messages). Strings use '' escaping or $$...$$; quoted
identifiers use "" escaping and keep their case; unquoted identifiers and keywords are
case-insensitive (``Token.lower``). Errors are :class:`greencql.errors.SyntaxException` with
Cassandra-shaped messages. Knows nothing about statements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from greencql.errors import SyntaxException

__all__ = ["Token", "tokenize"]


@dataclass(frozen=True, slots=True)
class Token:
    """kind: IDENT, QIDENT, STRING, INTEGER, FLOAT, HEX, UUID, DURATION, MARKER, NAMED_MARKER,
    OP (punctuation) or EOF. ``text`` is the source text; ``value`` the decoded content for
    strings, quoted identifiers and named markers."""

    kind: str
    text: str
    value: str
    line: int
    col: int

    @property
    def lower(self) -> str:
        return self.text.lower() if self.kind == "IDENT" else ""


_DURATION_UNIT = r"(?:y|mo|w|d|h|ms|m|us|µs|ns|s)"
_PATTERN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<UUID>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<HEX>0[xX][0-9a-fA-F]*(?![\w]))
  | (?P<DURATION>-?(?:(?:\d+"""
    + _DURATION_UNIT
    + r""")+(?![\w])|P[\dT][\dYMDWHS.T]*(?![\w])))
  | (?P<FLOAT>-?(?:\d+\.(?!\.)\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+
                  |(?<!\.)\.\d+(?:[eE][+-]?\d+)?)(?![\w]))
  | (?P<INTEGER>-?\d+(?![\w]|\.(?!\.)))
  | (?P<STRING>'(?:[^']|'')*')
  | (?P<PGSTRING>\$\$.*?\$\$)
  | (?P<QIDENT>"(?:[^"]|"")*")
  | (?P<IDENT>[A-Za-z][A-Za-z0-9_]*)
  | (?P<NAMED_MARKER>:[A-Za-z][A-Za-z0-9_]*|:"(?:[^"]|"")*")
  | (?P<OP><=|>=|!=|\+=|-=|[=<>(),;.*\[\]{}:?+\-/%])
    """,
    re.VERBOSE | re.DOTALL,
)


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text``, ending with one EOF token."""
    tokens: list[Token] = []
    pos = 0
    line = 1
    line_start = 0
    n = len(text)
    match = _PATTERN.match
    while pos < n:
        m = match(text, pos)
        if m is None:
            col = pos - line_start
            ch = text[pos]
            raise SyntaxException(f"line {line}:{col} no viable alternative at character '{ch}'")
        kind = m.lastgroup
        src = m.group()
        col = pos - line_start
        if kind not in ("ws", "comment"):
            value = src
            if kind == "STRING":
                value = src[1:-1].replace("''", "'")
            elif kind == "PGSTRING":
                kind = "STRING"
                value = src[2:-2]
            elif kind == "QIDENT":
                value = src[1:-1].replace('""', '"')
            elif kind == "NAMED_MARKER":
                body = src[1:]
                value = body[1:-1].replace('""', '"') if body.startswith('"') else body.lower()
            elif kind == "OP" and src == "?":
                kind = "MARKER"
            tokens.append(Token(kind, src, value, line, col))  # type: ignore[arg-type]
        newlines = src.count("\n")
        if newlines:
            line += newlines
            line_start = pos + src.rindex("\n") + 1
        pos = m.end()
    # ANTLR reports the end of input at line 0, column -1
    tokens.append(Token("EOF", "<EOF>", "", 0, -1))
    return tokens
