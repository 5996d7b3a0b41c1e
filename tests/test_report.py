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
    ConnectomePanel, connectome_figure, degrees, figure_style, fit, forest_figure, load_connectomes, metric_figure,
    null_distance_blocks, save_connectomes, save_figure, series_figure, to_html, to_markdown,
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
    assert draw == SurrogateDraw("degree_preserving", {"swaps_per_edge": 10.0, "variant": "auto", "gap_junctions": "keep"}, seed, conn.name, step)


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
            f"| rewired | degree_preserving | swaps_per_edge=10.0, variant=auto, gap_junctions=keep | {draw.seed} | {gm.jaccard(panel.reference, w):.4g} "
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


def test_series_of_different_lengths_are_averaged_where_they_exist(tmp_path: Path) -> None:
    with figure_style():
        fig = series_figure("t", ["a", "b"], [[np.arange(3.0), np.arange(5.0)], []])
        (path,) = save_figure(fig, tmp_path / "s")
    (mean,) = fig.axes[0].get_lines()
    assert np.array_equal(mean.get_ydata(), [0.0, 1.0, 2.0, 3.0, 4.0]) and path.read_bytes().startswith(PNG)
    band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert np.isclose(band.min(), 0.0) and np.isclose(band.max(), 4.0)  # sd 0 at every point: the band is the mean


# -- figures a paper can use ---------------------------------------------------------------------

MINUS = "\N{MINUS SIGN}"


def _drawn_texts(fig) -> list[tuple[str, object]]:
    """``(what, Text)`` for everything a figure writes: the tick labels it draws (colorbars too), titles, axis labels,
    notes and legends."""
    texts = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * max(1.0, hi - lo)
            locs = axis.get_majorticklocs()
            for loc, tick in zip(locs, axis.get_major_ticks(len(locs))):
                if lo - tol <= loc <= hi + tol:  # a locator may place ticks beyond the view; those are not drawn
                    texts += [("tick label", t) for t in (tick.label1, tick.label2) if t.get_visible()]
            texts.append(("axis label", axis.label))
        texts += [("title", ax.title), *(("note", t) for t in ax.texts)]
        if ax.get_legend() is not None:
            texts += [("legend", t) for t in ax.get_legend().get_texts()]
    return [(what, t) for what, t in texts if t.get_text()]


def _forest_rows(levels: tuple = ()) -> list:
    from encephagen.analysis import SummaryRow
    from encephagen.stats import compare

    rng = np.random.default_rng(3)
    rows = []
    for shift in (-2.0, -0.7):  # negative effects: d < 0 and a CI on the negative side
        c = compare(rng.normal(0.0, 1.0, 6), rng.normal(shift, 1.0, 6), rng=np.random.default_rng(0), n_boot=200)
        rows.append(SummaryRow("t", "m", "connectome", f"cond{shift:g}", c.with_q(0.04), None, "", levels))
    return rows


def _negative_panel() -> ConnectomePanel:
    rng = np.random.default_rng(1)
    w = -rng.random((6, 6)) * (rng.random((6, 6)) < 0.5)  # inhibitory weights: every value <= 0
    return ConnectomePanel("connectome", "toy:negative", w, {"rewired": ("degree_preserving", w.T.copy())})


#: Every report figure, drawn with negative values so that tick labels need a minus sign (wide labels too).
FIGURES = {
    "metric": lambda: metric_figure(
        "t: m", ["connectome", "rewired, rule=eprop"], [-0.00123 - 0.0004 * np.arange(5.0), -0.00187 + 0.0002 * np.arange(4.0)],
        ylabel="m (spikes/neuron/step)", chance=[-0.0015, None], notes=["reference", "p=0.016\nq=0.032"],
    ),
    "series": lambda: series_figure(
        "t: curve", ["connectome", "rewired"], [[-0.00125 * np.arange(8.0)] * 2, [-0.0011 * np.arange(6.0)] * 3],
        xlabel="test (every 5 trials)", ylabel="curve (1)", chance=[-0.002, -0.003],
    ),
    "connectome": lambda: connectome_figure(_negative_panel()),
    "forest": lambda: forest_figure("t: m", _forest_rows(), 0.05),
    "forest, long labels": lambda: forest_figure("t: m", _forest_rows((("factor_with_a_long_name", "a_level_name_that_goes_on_and_on_" * 3),)), 0.05),
}  # fmt: skip


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_draws_its_labels_inside_the_canvas_with_real_minus_signs(name: str, tmp_path: Path) -> None:
    import matplotlib
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    # A matplotlibrc that would lose the minus sign, and margins that would clip labels, must not reach the report.
    hostile = {"axes.unicode_minus": False, "font.family": ["monospace"], "figure.subplot.left": 0.01, "figure.subplot.bottom": 0.01}
    with matplotlib.rc_context(hostile), figure_style():
        fig = FIGURES[name]()
        (png,) = save_figure(fig, tmp_path / "f", ("png",), dpi=300)
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        texts = _drawn_texts(fig)
        canvas = fig.bbox
        for what, t in texts:
            box = t.get_window_extent(renderer)
            inside = canvas.x0 - 0.5 <= box.x0 and box.x1 <= canvas.x1 + 0.5 and canvas.y0 - 0.5 <= box.y0 and box.y1 <= canvas.y1 + 0.5
            assert inside, f"{name}: {what} {t.get_text()!r} at {box.bounds} leaves the canvas {canvas.bounds}"
        ticks = [t for what, t in texts if what == "tick label"]
        negative = [t for t in ticks if MINUS in t.get_text()]
        assert negative, f"{name}: no tick label has a minus sign: {[t.get_text() for t in ticks]}"
        assert not [t.get_text() for t in ticks if re.search(r"(^|[^\w])-\d", t.get_text())], "a hyphen where a minus sign belongs"
        for t in negative:  # and the font draws it (a font without U+2212 shows an empty box or nothing)
            assert FT2Font(font_manager.findfont(t.get_fontproperties())).get_char_index(ord(MINUS)) != 0
    width, height = int.from_bytes(png.read_bytes()[16:20], "big"), int.from_bytes(png.read_bytes()[20:24], "big")
    assert (width, height) == tuple(round(x * 300) for x in fig.get_size_inches())  # the file is the canvas checked, not a crop
    assert matplotlib.rcParams["axes.unicode_minus"] is True  # the style is left behind


def test_a_figure_too_small_for_its_labels_grows_to_hold_them() -> None:
    with figure_style():
        fig = forest_figure("t: m", _forest_rows((("f", "x" * 300),)), 0.05)
        before = fig.get_size_inches().copy()
        fit(fig)
        fig.canvas.draw()
        labels = [t.get_window_extent() for t in fig.axes[0].get_yticklabels()]
    assert fig.get_size_inches()[0] > before[0] + 5  # 300 characters do not fit 6 inches
    assert min(b.x0 for b in labels) >= fig.bbox.x0 - 0.5


def test_metric_and_series_figures_have_units_chance_and_p_q(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import attrs

    from encephagen import report
    from encephagen.exports import report_input
    from encephagen.interfaces import Metric

    data = report_input(run_dir)
    declared = {
        "connectome": [Metric("rate", "Hz", "a rate", "higher", chance=5.0), Metric("curve", "1", "a curve", "higher", chance=0.5, x="test (every 2 trials)")],
        "rewired": [Metric("rate", "Hz", "a rate", "higher", chance=5.5), Metric("curve", "1", "a curve", "higher", chance=0.5, x="test (every 2 trials)")],
    }  # fmt: skip
    cells = [attrs.evolve(c, info={**c.info, "metrics": {"warmup": [m.as_dict() for m in declared[c.key]]}}) for c in data.cells]
    analysis = attrs.evolve(data.analysis, metrics={("warmup", m.name): m for m in declared["connectome"]})
    drawn = {}
    save = report.save_figure
    monkeypatch.setattr(report, "save_figure", lambda fig, stem, *a: drawn.setdefault(stem.name, fig) and save(fig, stem, *a))
    out = tmp_path / "out"
    out.mkdir()
    report.write_report(out, attrs.evolve(data, cells=cells, analysis=analysis))

    ax = drawn["metric_00_warmup_rate"].axes[0]
    assert ax.get_ylabel() == "rate (Hz)"
    (chance,) = [c for c in ax.collections if c.get_label() == "chance"]
    assert [tuple(seg[:, 1]) for seg in chance.get_segments()] == [(5.0, 5.0), (5.5, 5.5)]  # each cell's own level
    assert [seg[:, 0].mean() for seg in chance.get_segments()] == [0.0, 1.0]  # over its own box
    row = next(r for r in data.summary if (r.metric, r.condition) == ("rate", "rewired"))
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["connectome\n(n=3)\nreference", f"rewired\n(n=2)\np={row.comparison.p:.2g}\nq={row.comparison.q:.2g}"]
    ax = drawn["series_00_warmup_curve"].axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("test (every 2 trials)", "curve (1)")
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "chance"]  # one line: the cells share the level
    assert set(line.get_ydata()) == {0.5} and line.get_linestyle() == "--"
    notes = [t.get_text() for t in drawn["forest_00_warmup_rate"].axes[0].texts]
    assert notes == [f"p={row.comparison.p:.2g} q={row.comparison.q:.2g}"]


def test_figures_are_written_in_every_format_asked_and_a_rerun_writes_the_same_bytes(tmp_path: Path) -> None:
    study = rf.write_study(tmp_path / "study.yaml", replicates=2)
    study.write_text(study.read_text() + "report: {formats: [png, svg, pdf], dpi: 300}\n")
    out = run_study(study, tmp_path / "out", rf.make_registry(), replicate_fn=rf.FakeReplicate(), verbosity=-1)
    figures = sorted(p.name for p in (out / "figures").iterdir())
    stems = sorted({n.rsplit(".", 1)[0] for n in figures})
    assert figures == sorted(f"{s}.{f}" for s in stems for f in ("png", "svg", "pdf")) and "connectomes" in stems
    png = (out / "figures" / "connectomes.png").read_bytes()
    assert png.startswith(PNG) and b"pHYs" in png and int.from_bytes(png[png.index(b"pHYs") + 4 :][:4], "big") == round(300 / 0.0254)
    svg = (out / "figures" / "connectomes.svg").read_text()
    pdf = (out / "figures" / "connectomes.pdf").read_bytes()
    assert svg.startswith("<?xml") and "<dc:date>" not in svg and pdf.startswith(b"%PDF") and b"/CreationDate" not in pdf
    assert b"/FontFile2" in pdf  # TrueType text, not Type 3
    page = (out / "report.html").read_text()
    assert "Every figure is also in figures/ as SVG and PDF" in page and len(re.findall(r'<img[^>]* width="\d+"', page)) == len(stems)
    first = {n: (out / "figures" / n).read_bytes() for n in figures}
    regenerate_report(out)
    assert {n: (out / "figures" / n).read_bytes() for n in figures} == first
    study.write_text(study.read_text().replace("report: {formats: [png, svg, pdf], dpi: 300}", "report: {formats: [png]}"))
    run_study(study, out, rf.make_registry(), replicate_fn=rf.FakeReplicate(), verbosity=-1)  # nothing to run; the report is rewritten
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(f"{s}.png" for s in stems)  # stale SVG and PDF are gone


@pytest.mark.parametrize(
    ("report", "line"),
    [
        ("{formats: [svg]}", "report.formats: must include png (report.html embeds the PNG figures)"),
        ("{formats: [png, tiff]}", "report.formats: lists figure formats among png, svg, pdf, got 'tiff'"),
        ("{formats: [png, png]}", "report.formats: names a format twice"),
        ("{dpi: 10}", "report.dpi: must be an integer of at least 50 (dots per inch), got 10"),
        ("{dpi: 100000}", "report.dpi:"),
        ("{size: 3}", "report: unknown key 'size'"),
    ],
)
def test_a_bad_report_section_is_one_line_naming_the_field(report: str, line: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from encephagen.cli import main

    study = rf.write_study(tmp_path / "study.yaml", replicates=2)
    study.write_text(study.read_text() + f"report: {report}\n")
    assert main(["validate", str(study)]) == 2
    err = capsys.readouterr().err
    assert line in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_the_design_lists_brain_size_models_and_every_component_parameter(run_dir: Path) -> None:
    md = (run_dir / "report.md").read_text()
    header = "| cell | connectome | regions | neurons per region | neurons | synapses (expected) | neuron model | coupling | delays | learning rule | protocol |"
    assert header in md
    from encephagen.store import Store

    with Store(run_dir / "study.sqlite") as store:
        info = store.cells()[0].info
    assert f"| connectome | {info['connectome']} | 8 | 200 | 1600 | {info['synapses']} | lif | 0.15 | none | none | warmup |" in md
    assert info["synapses"] > 0 and info["neurons"] == 8 * 200
    assert "| task warmup | warmup | steps=10, segment_steps=750, tolerance=0.1, until_steady=false, max_steps=30000 | all |" in md and "| learning rule | none | - | all |" in md
    assert "| microcircuit | - | neurons_per_region=200, exc_ratio=0.8," in md


def test_provenance_has_encephagen_s_own_revision_and_every_seed(run_dir: Path) -> None:
    import json

    from encephagen.store import Store

    prov = json.loads((run_dir / "provenance.json").read_text())
    with Store(run_dir / "study.sqlite") as store:
        replicates = store.replicates()
    assert prov["seeds"]["study"] == 7 and "replicate_seed(study seed, condition, replicate index" in prov["seeds"]["derivation"]
    assert prov["seeds"]["replicates"] == {c: [replicate_seed(7, c, i) for i in range(3)] for c in ("connectome", "rewired")}
    assert sorted(s for seeds in prov["seeds"]["replicates"].values() for s in seeds) == sorted(r.seed for r in replicates)
    rows = [line.split(",") for line in (run_dir / "results.csv").read_text().splitlines()[1:]]
    assert {int(r[2]) for r in rows} <= {s for seeds in prov["seeds"]["replicates"].values() for s in seeds}
    assert "replicate_seeds" not in prov and "study_seed" not in prov
    md = (run_dir / "report.md").read_text()
    assert "| seeds.study | 7 |" in md and "| seeds.derivation | replicate seed = " in md


def test_the_revision_is_of_the_checkout_encephagen_comes_from_not_of_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    import encephagen
    from encephagen.provenance import encephagen_revision, git_revision

    def git(*args: str, cwd: Path = tmp_path) -> str:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "other project")
    pkg = tmp_path / "site-packages" / "encephagen"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    assert git_revision(pkg) is None  # a copy inside another project's checkout, untracked: no revision of its own
    git("add", "site-packages")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "vendored")
    assert git_revision(pkg) == git("rev-parse", "HEAD")
    (pkg / "__init__.py").write_text("x = 1\n")
    assert git_revision(pkg) == git("rev-parse", "HEAD") + "+dirty"
    monkeypatch.chdir(tmp_path)  # the working directory is another checkout: it must not matter
    here = Path(encephagen.__file__).resolve().parent
    expected = git_revision(here)
    assert encephagen_revision() == (expected or f"none: encephagen {encephagen.__version__} was not imported from a git checkout")
    assert not encephagen_revision().startswith(git("rev-parse", "HEAD"))


def test_renderers_escape_their_input(tmp_path: Path) -> None:
    blocks = [("h", 1, "a <b>"), ("table", ["x|y"], [["1|2"]]), ("p", "<script>")]
    assert "x\\|y" in to_markdown(blocks) and "1\\|2" in to_markdown(blocks)
    page = to_html(blocks, "t", tmp_path)
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &lt;b&gt;" in page
