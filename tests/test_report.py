"""The report: files, a self-contained HTML page, figures, and regeneration from the store."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import runner_fakes as rf

from encephagen.errors import ConfigError
from encephagen.connectome_view import SurrogateDraw
from encephagen.report import (
    ConnectomePanel, degrees, load_connectomes, null_distance_blocks, save_connectomes, series_figure, to_html, to_markdown,
)
from encephagen.exports import regenerate_report
from encephagen.runner import run_study
from encephagen.study import replicate_seed, stream_rng, stream_seed

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    study = rf.write_study(root / "study.yaml", replicates=3)
    fake = rf.FakeReplicate(fail=("rewired", 2))
    return run_study(study, root / "out", rf.make_registry(), replicate_fn=fake, verbosity=-1)


def test_every_output_is_written(run_dir: Path) -> None:
    for name in ("results.csv", "summary.csv", "report.md", "report.html", "study.sqlite", "provenance.json", "connectomes.npz"):
        assert (run_dir / name).is_file(), name
    figures = sorted(p.name for p in (run_dir / "figures").iterdir())
    assert figures == [
        "connectomes.png",
        "forest_00_warmup_rate.png",
        "forest_01_warmup_score.png",
        "metric_00_warmup_rate.png",
        "metric_01_warmup_score.png",
        "series_00_warmup_curve.png",
    ]
    assert all((run_dir / "figures" / f).read_bytes().startswith(PNG) for f in figures)


def test_markdown_report_holds_design_table_failures_and_figures(run_dir: Path) -> None:
    md = (run_dir / "report.md").read_text()
    assert md.startswith("# Study report: tiny\n")
    for seed in (replicate_seed(7, c, i) for c in ("connectome", "rewired") for i in range(3)):
        assert str(seed) in md
    assert "| warmup | rate | rewired vs connectome | 3 | 2 |" in md
    assert f"| rewired | 2 | {replicate_seed(7, 'rewired', 2)} | activity exploded: mean rate 1e9 Hz |" in md
    for rel in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md):
        assert (run_dir / rel).is_file()
    assert "| plugin.null_model.degree_preserving |" in md and "| numpy |" in md


def test_design_lists_the_between_region_wiring_of_each_cell(run_dir: Path) -> None:
    from encephagen_builtins.connectomes import SyntheticConnectome

    from encephagen.engine.build import Microcircuit

    md = (run_dir / "report.md").read_text()
    assert "| cell | normalize | between-region synapses | share of synapses | share of input | on filled lengths |" in md
    rows = re.findall(r"^\| (\w+) \| none \| ([\d,]+) \| ([\d.]+) % \| [\d.]+ % \| no delays from tract lengths \|$", md, re.M)
    assert [r[0] for r in rows] == ["connectome", "rewired"]
    internal, between = Microcircuit().expected_synapses(SyntheticConnectome(n_regions=8).load())
    assert rows[0][1:] == (f"{between:,.0f}", f"{100 * between / (internal + between):.1f}")


def test_html_is_self_contained(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<link" not in page and "<script" not in page
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert len(srcs) == 6 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "activity exploded" in page and "<table>" in page


def test_regenerate_reproduces_the_report(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    for name in ("report.md", "report.html", "summary.csv", "results.csv"):
        (copy / name).unlink()
    shutil.rmtree(copy / "figures")
    assert regenerate_report(copy) == copy / "report.html"
    for name in ("report.md", "report.html", "summary.csv", "results.csv", "provenance.json"):
        assert (copy / name).read_bytes() == (run_dir / name).read_bytes(), name


def test_regenerate_needs_a_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no study.sqlite"):
        regenerate_report(tmp_path)


def test_connectome_panel_holds_the_reference_and_replicate_zero_surrogate(run_dir: Path) -> None:
    from encephagen_builtins.connectomes import SyntheticConnectome
    from encephagen_builtins.null_models import DegreePreserving

    panel = load_connectomes(run_dir / "connectomes.npz")
    conn = SyntheticConnectome(n_regions=8).load()
    expected = DegreePreserving().randomize(conn, stream_rng(replicate_seed(7, "rewired", 0), "null_model"))
    assert np.array_equal(panel.reference, conn.weights)
    assert list(panel.surrogates) == ["rewired"]
    model, weights = panel.surrogates["rewired"]
    assert model == "degree_preserving" and np.array_equal(weights, expected.weights)
    assert (panel.reference_name, panel.connectome) == ("connectome", conn.name)


def test_connectome_panel_records_how_each_surrogate_was_drawn(run_dir: Path) -> None:
    from encephagen_builtins.connectomes import SyntheticConnectome
    from encephagen_builtins.null_models import DegreePreserving

    draw = load_connectomes(run_dir / "connectomes.npz").draws["rewired"]
    conn = SyntheticConnectome(n_regions=8).load()
    seed = stream_seed(replicate_seed(7, "rewired", 0), "null_model")
    step = DegreePreserving().randomize(conn, np.random.default_rng(seed)).history[-1]
    assert draw == SurrogateDraw("degree_preserving", {"swaps_per_edge": 10.0, "variant": "auto"}, seed, conn.name, step)


def test_the_recorded_seed_draws_the_panel_surrogate_again_from_the_command_line(run_dir: Path, tmp_path: Path) -> None:
    from encephagen.cli import main
    from encephagen.connectome_view import export_npz
    from encephagen_builtins.connectomes import SyntheticConnectome

    panel = load_connectomes(run_dir / "connectomes.npz")
    draw = panel.draws["rewired"]
    export_npz(SyntheticConnectome(n_regions=8).load(), tmp_path / "ref.npz")
    spec = "{kind: %s, %s}" % (draw.model, ", ".join(f"{k}: {v}" for k, v in draw.parameters.items()))
    argv = ["connectome", "export", f"file:{tmp_path / 'ref.npz'}", "--null", spec, "--seed", str(draw.seed), "--out", str(tmp_path / "s.npz")]
    assert main(argv) == 0
    assert np.array_equal(np.load(tmp_path / "s.npz")["weights"], panel.surrogates["rewired"][1])


def test_report_holds_the_surrogate_vs_connectome_table(run_dir: Path) -> None:
    from encephagen import graph_measures as gm

    panel = load_connectomes(run_dir / "connectomes.npz")
    w, draw = panel.surrogates["rewired"][1], panel.draws["rewired"]
    k = gm.rich_club_level(panel.reference)
    ref, sur = gm.measures(panel.reference, k), gm.measures(w, k)
    md = (run_dir / "report.md").read_text()
    assert "| condition | model | parameters | seed | jaccard | measure | connectome | surrogate | change |" in md
    for name in ref:
        row = (
            f"| rewired | degree_preserving | swaps_per_edge=10.0, variant=auto | {draw.seed} | {gm.jaccard(panel.reference, w):.4g} "
            f"| {name} | {ref[name]:.4g} | {sur[name]:.4g} | {sur[name] - ref[name]:+.4g} |"
        )
        assert row in md


def test_the_table_says_what_a_panel_does_not_record() -> None:
    w = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], float)
    other = SurrogateDraw("m2", {}, 3, "another:one")
    panel = ConnectomePanel("ref", "toy", w, {"old": ("m1", w.T.copy()), "elsewhere": ("m2", w)}, {"elsewhere": other})
    blocks = null_distance_blocks(panel)
    rows = blocks[-1][2]
    assert rows[0][:6] == ["old", "m1", "not recorded", "not recorded", "0", "clustering"]  # reversed edges: none shared
    assert rows[-1][:6] == ["elsewhere", "m2", "-", 3, "-", "not compared: drawn on another:one"]
    assert null_distance_blocks(ConnectomePanel("ref", "toy", w, {})) == []


def test_degrees_agree_with_the_connectome() -> None:
    from encephagen_builtins.connectomes import SyntheticConnectome

    conn = SyntheticConnectome(n_regions=12, density=0.4, seed=3).load()
    w = conn.weights.copy()
    np.fill_diagonal(w, 5.0)  # self-loops do not count
    din, dout = degrees(w)
    assert np.array_equal(din, conn.in_degree()) and np.array_equal(dout, conn.out_degree())


def test_connectome_file_round_trips_without_pickle(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    draws = {"a": SurrogateDraw("m1", {"x": 1.5, "mode": "auto", "ks": [1, 2]}, 2**62 + 3, "toy", "m1(x=1.5): done")}
    panel = ConnectomePanel("ref", "toy", rng.random((4, 4)), {"a": ("m1", rng.random((4, 4))), "b": ("m2", rng.random((4, 4)))}, draws)
    path = tmp_path / "c.npz"
    path.write_bytes(save_connectomes(panel))
    back = load_connectomes(path)
    assert back == panel and list(back.surrogates) == ["a", "b"] and back.draws == draws
    assert all(back.surrogates[k][0] == panel.surrogates[k][0] for k in "ab")
    assert all(np.array_equal(back.surrogates[k][1], panel.surrogates[k][1]) for k in "ab")


def test_series_of_different_lengths_are_plotted(tmp_path: Path) -> None:
    path = tmp_path / "s.png"
    series_figure(path, "t", ["a", "b"], [[np.arange(3.0), np.arange(5.0)], []])
    assert path.read_bytes().startswith(PNG)


def test_renderers_escape_their_input(tmp_path: Path) -> None:
    blocks = [("h", 1, "a <b>"), ("table", ["x|y"], [["1|2"]]), ("p", "<script>")]
    assert "x\\|y" in to_markdown(blocks) and "1\\|2" in to_markdown(blocks)
    page = to_html(blocks, "t", tmp_path)
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &lt;b&gt;" in page
