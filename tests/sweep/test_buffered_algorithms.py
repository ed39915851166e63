"""A sweep trains the buffered Tiki-Taka algorithms (TTv2, chopped TTv2, AGAD) like the others:
each point on a fresh chip, stored once with the configuration it resolved to.

Single-layer Iris, one epoch, short calibration budgets: seconds on the shared 2-worker cluster.
"""

from __future__ import annotations

from pathlib import Path

from hil.cli import main
from hil.store import RunStore
from protocols.records.sweep import SweepPoint

SPEC = """
name = "buffered algorithms, smoke"
[base]
preset = "protonic-asymmetric"
dataset = "iris"
hidden = []
epochs = 1
algorithms = ["ttv2", "cttv2", "agad"]
[base.ttv2.calibration]
symmetry_max_pairs = 300
symmetry_window = 100
[base.cttv2.calibration]
symmetry_max_pairs = 300
symmetry_window = 100
[base.agad]
calibration = {symmetry_max_pairs = 300, symmetry_window = 100}
reference = {placement = "symmetry"}
[axes]
"ttv2.buffer.threshold" = [0.5, 2.0]
"cttv2.chop_period" = [5, 20]
"agad.reference.offset" = [0.0, 0.02]
"""


def test_a_sweep_of_ttv2_cttv2_and_agad_stores_each_point_with_its_resolved_config(
    client, tmp_path: Path, capsys
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    store = tmp_path / "s.sqlite"
    argv = ["sweep", str(spec), "--out", str(tmp_path / "out"), "--store", str(store)]
    assert main([*argv, "--scheduler", client.scheduler.address, "--no-progress"]) == 0
    assert "6 points (0 stored, 6 to run)" in capsys.readouterr().out
    with RunStore(store, read_only=True) as s:
        points = sorted(SweepPoint.read(s.points(s.runs()[-1].id, kind="sweep_point")), key=lambda p: p.step)
    assert len(points) == 6 and len({p.key for p in points}) == 6
    assert all(p.completed for p in points), [p.error for p in points]
    by = {name: [p for p in points if p.algorithm == name] for name in ("ttv2", "cttv2", "agad")}
    assert [p.config["algorithm"]["buffer"]["threshold"] for p in by["ttv2"]] == [0.5, 2.0]
    assert [p.config["algorithm"]["chop_period"] for p in by["cttv2"]] == [5, 20]
    references = [p.config["algorithm"]["reference"] for p in by["agad"]]
    assert references == [{"placement": "symmetry", "offset": 0.0}, {"placement": "symmetry", "offset": 0.02}]
    for p in points:  # the whole configuration, not only what the spec set
        algorithm = p.config["algorithm"]
        assert algorithm["epochs"] == 1 and algorithm["calibration"]["symmetry_max_pairs"] == 300
        assert algorithm["buffer"]["n_max"] == 15 and "eta_a" in algorithm
        assert p.config["device"]["model"] and p.config["network"]["sizes"] == [4, 3]
        assert p.metrics["epochs"] == 1 and len(p.curve) == 2  # before training, after epoch 1
    assert "tail_weight" in by["agad"][0].config["algorithm"]  # AGAD's own field
    assert (tmp_path / "out" / "accuracy_vs_ttv2_buffer_threshold.png").is_file()
