"""A small SCPI command engine for the virtual instruments.

What it implements (IEEE 488.2 / SCPI 1999, the parts real instruments rely on):

- program messages of several units separated by ';', each a command or a query ('?');
- headers in short or long form, case-insensitive, optional nodes, numeric suffixes
  (``SOUR2:FUNC``), and the SCPI header-path rule: a unit without a leading ':' is relative
  to the path of the previous unit (``:SOUR:VOLT:LEV 1;ILIM 1e-3`` sets ``:SOUR:VOLT:ILIM``);
- common commands (``*IDN?``, ``*RST``, ``*CLS``, ``*OPC``, ``*OPC?``, ``*WAI``, ``*ESR?``,
  ``*ESE``, ``*SRE``, ``*STB?``) and a bounded error queue with the standard codes;
- processing stops at the first failing unit of a message; the error goes to the queue and
  nothing is sent back for it (a client waiting for a reply times out, as on a real bus).

Commands are registered with a header spec such as ``"[:SOURce#]:VOLTage[:LEVel]"``: square
brackets mark optional nodes, upper-case letters the short form, ``#`` a numeric suffix that
the handler receives in ``suffix[<long node name>]`` (None when absent).
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

STANDARD_ERRORS: dict[int, str] = {
    0: "No error",
    -100: "Command error",
    -102: "Syntax error",
    -104: "Data type error",
    -108: "Parameter not allowed",
    -109: "Missing parameter",
    -113: "Undefined header",
    -114: "Header suffix out of range",
    -138: "Suffix not allowed",
    -151: "Invalid string data",
    -200: "Execution error",
    -211: "Trigger ignored",
    -221: "Settings conflict",
    -222: "Data out of range",
    -224: "Illegal parameter value",
    -230: "Data corrupt or stale",
    -300: "Device-specific error",
    -350: "Queue overflow",
}

# Standard Event Status Register bits set by each error class (IEEE 488.2 11.5.1).
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME = 1, 4, 8, 16, 32


class ScpiError(Exception):
    """A command failed: the engine queues (code, message) and stops the message."""

    def __init__(self, code: int, detail: str | None = None):
        base = STANDARD_ERRORS.get(code, "Error")
        self.code = code
        self.message = f"{base};{detail}" if detail else base
        super().__init__(f"{code},{self.message}")


class ErrorQueue:
    """First in, first out; when full, the newest entry becomes -350 'Queue overflow'."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._entries: deque[tuple[int, str]] = deque()

    def push(self, code: int, message: str) -> None:
        if len(self._entries) < self.capacity:
            self._entries.append((code, message))
        else:
            self._entries[-1] = (-350, STANDARD_ERRORS[-350])

    def pop(self) -> tuple[int, str]:
        """The oldest entry, or (0, 'No error') when empty."""
        return self._entries.popleft() if self._entries else (0, STANDARD_ERRORS[0])

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# ---------------------------------------------------------------------------- headers
@dataclass(frozen=True)
class _Node:
    short: str
    long: str
    optional: bool
    suffix: bool


_NODE_SPEC = re.compile(r"(\[)?:?([A-Za-z]+)(#)?\]?")
_TOKEN = re.compile(r"([A-Za-z_]+)(\d*)")
_HEADER = re.compile(r"(\S+)\s*(.*)", re.DOTALL)


def mnemonic_forms(spec: str) -> tuple[str, str]:
    """('SOUR', 'SOURCE') for 'SOURce': the short form is the leading upper-case part."""
    short = re.match(r"[A-Z]*", spec).group(0) or spec.upper()
    return short, spec.upper()


def _compile(spec: str) -> tuple[_Node, ...]:
    nodes = []
    for m in _NODE_SPEC.finditer(spec):
        short, long = mnemonic_forms(m.group(2))
        nodes.append(_Node(short, long, bool(m.group(1)), bool(m.group(3))))
    if not nodes:
        raise ValueError(f"empty SCPI header spec {spec!r}")
    return tuple(nodes)


def _match(
    nodes: tuple[_Node, ...],
    i: int,
    tokens: list[tuple[str, int | None]],
    j: int,
    suffix: dict[str, int | None],
) -> dict[str, int | None] | None:
    if i == len(nodes):
        return suffix if j == len(tokens) else None
    node = nodes[i]
    if j < len(tokens):
        name, number = tokens[j]
        if name in (node.short, node.long) and (node.suffix or number is None):
            found = _match(nodes, i + 1, tokens, j + 1, {**suffix, node.long: number})
            if found is not None:
                return found
    if node.optional:
        return _match(nodes, i + 1, tokens, j, {**suffix, node.long: None})
    return None


def _tokens(header: str) -> list[tuple[str, int | None]]:
    """('SOUR', 2), ('FUNC', None) for 'SOUR2:FUNC' (a leading ':' is ignored)."""
    tokens = []
    for raw in header.lstrip(":").split(":"):
        m = _TOKEN.fullmatch(raw)
        if m is None:
            raise ScpiError(-113)
        tokens.append((m.group(1).upper(), int(m.group(2)) if m.group(2) else None))
    return tokens


#: numeric suffixes of a matched header, by long node name (None: the node had none)
Suffix = Mapping[str, int | None]
Handler = Callable[[list[str], Suffix], str | None]


@dataclass(frozen=True)
class _Command:
    spec: str
    nodes: tuple[_Node, ...]
    write: Handler | None
    query: Handler | None


# ---------------------------------------------------------------------------- message splitting
def split_outside_quotes(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not inside '...' or "..." or (...)."""
    parts, current, quote, depth = [], [], "", 0
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == "(":
            depth += 1
            current.append(ch)
        elif ch == ")":
            depth -= 1
            current.append(ch)
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


class ScpiEngine:
    """Parses program messages and dispatches them to registered handlers."""

    def __init__(self, error_format: Callable[[int, str], str] | None = None, queue_capacity: int = 32):
        self.errors = ErrorQueue(queue_capacity)
        self.esr = 0
        self.ese = 0
        self.sre = 0
        self._commands: list[_Command] = []
        self._common: dict[str, tuple[Handler | None, Handler | None]] = {}
        self._error_format = error_format or (lambda code, msg: f'{code},"{msg}"')
        self._register_builtins()

    # ------------------------------------------------------------------ registration
    def command(self, spec: str, *, write: Handler | None = None, query: Handler | None = None) -> None:
        """Register a header; `write` handles the command form, `query` the '?' form."""
        self._commands.append(_Command(spec, _compile(spec), write, query))

    @property
    def specs(self) -> list[str]:
        """Every registered header spec, in registration order."""
        return [cmd.spec for cmd in self._commands]

    def common(self, name: str, *, write: Handler | None = None, query: Handler | None = None) -> None:
        """Register (or replace) a common command such as '*IDN' or '*RST'."""
        self._common[name.upper()] = (write, query)

    def push_error(self, code: int, message: str) -> None:
        if -199 <= code <= -100:
            self.esr |= ESR_CME
        elif -299 <= code <= -200:
            self.esr |= ESR_EXE
        elif -499 <= code <= -400:
            self.esr |= ESR_QYE
        elif code != 0:
            self.esr |= ESR_DDE
        self.errors.push(code, message)

    def format_error(self, code: int, message: str) -> str:
        return self._error_format(code, message)

    # ------------------------------------------------------------------ execution
    def execute(self, message: str) -> str | None:
        """Run one program message; return the joined query responses, or None if none."""
        replies: list[str] = []
        path: list[tuple[str, int | None]] = []
        for unit in split_outside_quotes(message, ";"):
            unit = unit.strip()
            if not unit:
                continue
            try:
                reply, path = self._unit(unit, path)
            except ScpiError as err:
                self.push_error(err.code, err.message)
                break
            except Exception as exc:  # a bug or a backend failure must not kill the server
                self.push_error(-300, f"{STANDARD_ERRORS[-300]};{type(exc).__name__}: {exc}")
                break
            if reply is not None:
                replies.append(reply)
        return ";".join(replies) if replies else None

    def _unit(
        self, unit: str, path: list[tuple[str, int | None]]
    ) -> tuple[str | None, list[tuple[str, int | None]]]:
        header, rest = _HEADER.fullmatch(unit).groups()
        args = [a.strip() for a in split_outside_quotes(rest.strip(), ",")] if rest.strip() else []
        is_query = header.endswith("?")
        if is_query:
            header = header[:-1]
        # PyMeasure's Keithley2450.reset() sends ':*CLS'; a leading colon before '*' is tolerated.
        bare = header.lstrip(":")
        if bare.startswith("*"):
            write, query = self._common.get(bare.upper(), (None, None))
            handler = query if is_query else write
            if handler is None:
                raise ScpiError(-113)
            return handler(args, {}), path
        tokens = _tokens(header)
        full = tokens if header.startswith(":") else [*path, *tokens]
        for cmd in self._commands:
            suffix = _match(cmd.nodes, 0, full, 0, {})
            if suffix is None:
                continue
            handler = cmd.query if is_query else cmd.write
            if handler is None:
                raise ScpiError(-113)
            return handler(args, suffix), full[:-1]
        raise ScpiError(-113)

    def resolve(self, header: str) -> list[str]:
        """The specs of every registered command a header (as on the wire, without '?' and
        parameters, taken as absolute) matches; the engine runs the first. An instrument whose
        headers each match one spec behaves the same whatever order its table registers them in."""
        tokens = _tokens(header)
        return [cmd.spec for cmd in self._commands if _match(cmd.nodes, 0, tokens, 0, {}) is not None]

    # ------------------------------------------------------------------ IEEE 488.2 built-ins
    def _register_builtins(self) -> None:
        def cls() -> None:
            self.errors.clear()
            self.esr = 0

        def read_esr() -> str:
            value, self.esr = self.esr, 0
            return str(value)

        def stb() -> str:
            eav = 4 if len(self.errors) else 0  # error/event available
            esb = 32 if self.esr & self.ese else 0
            return str(eav | esb)

        def set_ese(args: list[str], _: Suffix) -> None:
            self.ese = integer(one_arg(args), 0, 255)

        def set_sre(args: list[str], _: Suffix) -> None:
            self.sre = integer(one_arg(args), 0, 255)

        def opc() -> None:
            self.esr |= ESR_OPC  # every operation completes before the next command runs

        self.common("*CLS", write=action(cls))
        self.common("*ESR", query=answer(read_esr))
        self.common("*ESE", write=set_ese, query=answer(lambda: str(self.ese)))
        self.common("*SRE", write=set_sre, query=answer(lambda: str(self.sre)))
        self.common("*STB", query=answer(stb))
        self.common("*OPC", write=action(opc), query=answer(lambda: "1"))
        self.common("*WAI", write=action(lambda: None))

    def error_next(self, args: list[str], _: Suffix) -> str:
        """Handler for SYSTem:ERRor[:NEXT]?: pop the oldest entry and format it."""
        no_args(args)
        code, message = self.errors.pop()
        return self.format_error(code, message)


# ---------------------------------------------------------------------------- handlers
def action(fn: Callable[[], object]) -> Handler:
    """A handler for a command that takes no parameters."""

    def write(args: list[str], _: Suffix) -> None:
        no_args(args)
        fn()

    return write


def answer(fn: Callable[[], str]) -> Handler:
    """A handler for a query that takes no parameters."""

    def query(args: list[str], _: Suffix) -> str:
        no_args(args)
        return fn()

    return query


# ---------------------------------------------------------------------------- parameters
def no_args(args: list[str]) -> None:
    if args:
        raise ScpiError(-108)


def one_arg(args: list[str]) -> str:
    if not args:
        raise ScpiError(-109)
    if len(args) > 1:
        raise ScpiError(-108)
    return args[0]


def arg_count(args: list[str], least: int, most: int) -> None:
    if len(args) < least:
        raise ScpiError(-109)
    if len(args) > most:
        raise ScpiError(-108)


def matches(token: str, spec: str) -> bool:
    """True if `token` is the short or long form of mnemonic `spec` (e.g. 'VOLTage')."""
    short, long = mnemonic_forms(spec)
    return token.strip().upper() in (short, long)


def choice(arg: str, options: Mapping[str, T]) -> T:
    """Map a character parameter onto `options` keyed by mnemonic specs ('VOLTage': ...)."""
    for spec, value in options.items():
        if matches(arg, spec):
            return value
    raise ScpiError(-224)


_NUMBER_WITH_SUFFIX = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*[A-Za-z]+")


def number(
    arg: str,
    lo: float | None = None,
    hi: float | None = None,
    keywords: Mapping[str, float] | None = None,
) -> float:
    """A decimal numeric parameter; `keywords` maps specs such as 'MINimum' to values.

    Outside [lo, hi] raises -222 'Data out of range' (nothing is clamped).
    """
    if keywords:
        for spec, value in keywords.items():
            if matches(arg, spec):
                return value
    text = arg.strip()
    try:
        value = float(text)
    except ValueError:
        raise ScpiError(-138 if _NUMBER_WITH_SUFFIX.fullmatch(text) else -104) from None
    if not math.isfinite(value):
        raise ScpiError(-104)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ScpiError(-222)
    return value


def integer(arg: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer parameter; decimals are rounded as SCPI instruments do."""
    value = round(number(arg))
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ScpiError(-222)
    return value


def flag(value: bool) -> str:
    """A boolean as SCPI instruments answer it: 1 or 0."""
    return "1" if value else "0"


def boolean(arg: str) -> bool:
    text = arg.strip().upper()
    if text in ("ON", "1"):
        return True
    if text in ("OFF", "0"):
        return False
    try:
        return round(float(text)) != 0
    except ValueError:
        raise ScpiError(-224) from None


def string(arg: str) -> str:
    """A quoted string parameter ('...' or "...")."""
    text = arg.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    raise ScpiError(-151)
