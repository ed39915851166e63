"""Fuzzing the bench-config loader: whatever the file holds, it loads or raises BenchConfigError.

Inputs: a valid configuration with random structural mutations (keys deleted, values of the
wrong type or out of range, pads duplicated, drivers unknown), random edits of its text, and
random bytes. The loader must return a BenchConfig or raise BenchConfigError naming the file,
with a line number inside the file when it gives one; no other exception may escape.
"""

from __future__ import annotations

import copy
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.benchconfig import BenchConfig, BenchConfigError, load_bench_config
from tests.hil.test_benchconfig import GOOD, KNOWN

SOURCE = Path("fuzzed-bench.toml")
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def check(text: str | None = None, path: Path = SOURCE) -> None:
    """Load and check the outcome; text None reads the file."""
    try:
        config = load_bench_config(path, KNOWN, text=text)
    except BenchConfigError as exc:
        message = str(exc)
        assert str(path) in message, message
        lines = (text if text is not None else path.read_bytes().decode("utf-8", "replace")).splitlines()
        for number in re.findall(r"\bline (\d+)\b", message.removeprefix(f"{path}: not valid TOML")):
            assert 1 <= int(number) <= max(len(lines), 1), message
        return
    assert isinstance(config, BenchConfig)


# ---------------------------------------------------------------------- TOML out of a dict
def _key(key: str) -> str:
    return key if BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Plain values first, then [prefix.table] sections; tables below the second level inline."""
    lines = [
        f"{_key(k)} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict) or prefix.count(".")
    ]
    out = "\n".join(lines) + "\n"
    if prefix.count("."):
        return out
    for k, v in data.items():
        if isinstance(v, dict):
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            out += f"\n[{name}]\n" + to_toml(v, name + ".")
    return out


# ---------------------------------------------------------------------- mutations
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=40), max_size=4),
    st.lists(st.lists(st.integers(min_value=-3, max_value=40), max_size=4), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
)


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into nested dicts and lists."""
    found = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        found.append((*prefix, key))
        found.extend(paths(value, (*prefix, key)))
    return found


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    """data[name] if it is still a table, else an empty one."""
    value = data.get(name)
    return value if isinstance(value, dict) else {}


@st.composite
def mutated_configs(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(tomllib.loads(GOOD))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = paths(data)
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["delete", "replace", "duplicate pad", "unknown driver", "rename"]))
        if action == "delete":
            del parent[path[-1]]
        elif action == "replace":
            value = draw(VALUES)
            if value is None:  # TOML has no null: delete instead
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        elif action == "duplicate pad":
            gate = _table(data, "chip").get("gate")
            if isinstance(gate, list) and gate and isinstance(gate[0], list) and gate[0]:
                gate[0][0] = draw(st.sampled_from([2, 7, 13, 1]))
        elif action == "unknown driver":
            role = draw(st.sampled_from(["smu", "pulser", "matrix"]))
            entry = _table(data, "instruments").get(role)
            if isinstance(entry, dict):
                entry["driver"] = draw(st.sampled_from(["keithley707b", "nonesuch", "", "KEITHLEY2450"]))
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = parent.pop(path[-1])
    return data


@FUZZ
@given(mutated_configs())
def test_structural_mutations_load_or_raise_bench_config_error(data: dict[str, Any]) -> None:
    check(to_toml(data))


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(GOOD)), st.integers(0, 8), st.text(max_size=6)),
        min_size=1,
        max_size=4,
    )
)
def test_text_edits_load_or_raise_bench_config_error(edits: list[tuple[int, int, str]]) -> None:
    text = GOOD
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut :]
    check(text)


@FUZZ
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=len(GOOD)))
def test_garbage_bytes_in_the_file_raise_bench_config_error(
    tmp_path_factory: Any, junk: bytes, at: int
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "bench.toml"
    raw = GOOD.encode()
    path.write_bytes(raw[:at] + junk + raw[at:])
    check(path=path)


def test_the_serializer_round_trips_the_valid_config() -> None:
    """The mutation test's TOML writer is right: the unmutated config survives it."""
    assert tomllib.loads(to_toml(tomllib.loads(GOOD))) == tomllib.loads(GOOD)
    check(to_toml(tomllib.loads(GOOD)))
