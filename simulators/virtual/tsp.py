"""A practical subset of TSP (Keithley's Lua) for the virtual switch matrix: no Lua VM.

One received line is one chunk. Understood statements, separated by ';' or whitespace:

- ``name.path(args)``: a call of a registered function;
- ``print(expr, ...)``: one output line, values separated by tabs as Lua's print does;
- ``name.path = expr``: an assignment to a registered attribute.

Expressions are strings ('...' or "..."), numbers, ``nil``, ``true``, ``false``, attribute
reads (``errorqueue.count``) and calls. A syntax error rejects the whole line before anything
runs (code -285); a runtime error stops the line where it occurs (code -286), as on the
instrument. Numbers print in TSP's default ASCII format (``%.5e``, e.g. ``0.00000e+00``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

_TOKENS = re.compile(
    r"""\s*(?:
        (?P<comment>--.*)
      | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<str>"[^"]*"|'[^']*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>[.(),;=-])
    )""",
    re.VERBOSE,
)


class TspError(Exception):
    """An error the instrument puts on its error queue."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def syntax_error(near: str) -> TspError:
    return TspError(-285, f"TSP Syntax error at line 1: unexpected symbol near '{near}'")


def runtime_error(detail: str) -> TspError:
    return TspError(-286, f"TSP Runtime error at line 1: {detail}")


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str


def _tokenize(line: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(line):
        if line[pos:].strip() == "":
            break
        m = _TOKENS.match(line, pos)
        if m is None or m.end() == pos:
            raise syntax_error(line[pos:].strip()[:1])
        pos = m.end()
        if m.group("comment"):
            break
        kind = next(k for k in ("num", "str", "name", "op") if m.group(k) is not None)
        tokens.append(_Tok(kind, m.group(kind)))
    return tokens


class _Parser:
    def __init__(self, tokens: list[_Tok]):
        self.tokens = tokens
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise syntax_error("<eof>")
        if (text is not None and tok.text != text) or (kind is not None and tok.kind != kind):
            raise syntax_error(tok.text)
        self.i += 1
        return tok

    def chunk(self) -> list[tuple]:
        statements = []
        while self.peek() is not None:
            if self.peek().text == ";":
                self.i += 1
                continue
            statements.append(self.statement())
        return statements

    def path(self) -> str:
        parts = [self.take(kind="name").text]
        while self.peek() is not None and self.peek().text == ".":
            self.i += 1
            parts.append(self.take(kind="name").text)
        return ".".join(parts)

    def arguments(self) -> list[tuple]:
        self.take("(")
        args = []
        if self.peek() is not None and self.peek().text != ")":
            args.append(self.expr())
            while self.peek() is not None and self.peek().text == ",":
                self.i += 1
                args.append(self.expr())
        self.take(")")
        return args

    def statement(self) -> tuple:
        tok = self.peek()
        if tok.kind != "name":
            raise syntax_error(tok.text)
        name = self.path()
        nxt = self.peek()
        if nxt is not None and nxt.text == "(":
            args = self.arguments()
            return ("print", args) if name == "print" else ("call", name, args)
        if nxt is not None and nxt.text == "=":
            self.i += 1
            return ("assign", name, self.expr())
        raise syntax_error(nxt.text if nxt is not None else "<eof>")

    def expr(self) -> tuple:
        tok = self.peek()
        if tok is None:
            raise syntax_error("<eof>")
        if tok.text == "-":
            self.i += 1
            num = self.take(kind="num")
            return ("value", -float(num.text))
        if tok.kind == "num":
            self.i += 1
            return ("value", float(tok.text))
        if tok.kind == "str":
            self.i += 1
            return ("value", tok.text[1:-1])
        if tok.kind == "name" and tok.text in ("nil", "true", "false"):
            self.i += 1
            return ("value", {"nil": None, "true": True, "false": False}[tok.text])
        if tok.kind == "name":
            name = self.path()
            if self.peek() is not None and self.peek().text == "(":
                return ("call", name, self.arguments())
            return ("get", name)
        raise syntax_error(tok.text)


def format_value(value: object) -> str:
    """How TSP's print() shows a value."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{float(value):.5e}"
    return str(value)


Function = Callable[..., tuple[object, ...]]


class TspRuntime:
    """Runs lines against registered functions and attributes (dotted names)."""

    def __init__(
        self,
        functions: Mapping[str, Function],
        getters: Mapping[str, Callable[[], object]],
        setters: Mapping[str, Callable[[object], None]] | None = None,
    ):
        self.functions = dict(functions)
        self.getters = dict(getters)
        self.setters = dict(setters or {})
        self._tables = {name.split(".")[0] for name in [*self.functions, *self.getters, *self.setters]}
        self.globals: dict[str, object] = {}  # plain Lua globals a script assigns (x = 3)

    def run(self, line: str) -> list[str]:
        """Output lines of `line`; raises TspError (nothing after the error runs)."""
        statements = _Parser(_tokenize(line)).chunk()
        output: list[str] = []
        for stmt in statements:
            if stmt[0] == "print":
                values = [v for arg in stmt[1] for v in self._values(arg)]
                output.append("\t".join(format_value(v) for v in values))
            elif stmt[0] == "call":
                self._call(stmt[1], stmt[2])
            else:
                setter = self.setters.get(stmt[1])
                if setter is None and "." not in stmt[1] and stmt[1] not in self._tables:
                    self.globals[stmt[1]] = self._first(stmt[2])
                elif setter is None:
                    self._check_index(stmt[1])
                    raise runtime_error(f"attempt to set read-only or unknown attribute '{stmt[1]}'")
                else:
                    setter(self._first(stmt[2]))
        return output

    def _first(self, expr: tuple) -> object:
        values = self._values(expr)
        return values[0] if values else None

    def _values(self, expr: tuple) -> tuple[object, ...]:
        kind = expr[0]
        if kind == "value":
            return (expr[1],)
        if kind == "get":
            getter = self.getters.get(expr[1])
            if getter is not None:
                return (getter(),)
            if expr[1] in self.globals:
                return (self.globals[expr[1]],)
            self._check_index(expr[1])
            return (None,)  # Lua: a missing field or global reads as nil
        return self._call(expr[1], expr[2])

    def _call(self, name: str, args: list[tuple]) -> tuple[object, ...]:
        fn = self.functions.get(name)
        if fn is None:
            self._check_index(name)
            where = "field" if "." in name else "global"
            raise runtime_error(f"attempt to call {where} '{name.split('.')[-1]}' (a nil value)")
        return fn(*[self._first(a) for a in args])

    def _check_index(self, name: str) -> None:
        root = name.split(".")[0]
        if "." in name and root not in self._tables:
            raise runtime_error(f"attempt to index global '{root}' (a nil value)")
