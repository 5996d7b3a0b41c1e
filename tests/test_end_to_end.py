"""A real (tiny) study through the CLI: deterministic, executor-independent, resumable."""

from __future__ import annotations

from pathlib import Path

import pytest
import runner_fakes as rf

from encephagen.cli import main

STUDY = (
    "name: tiny\n"
    + rf.TINY_REAL
    + "protocol:\n"
    + rf.TINY_CONDITIONING.replace("  - {kind: conditioning", "  - {kind: differentiation, steps: 200}\n  - {kind: conditioning")
    + "  - {kind: working_memory, baseline_steps: 100, stim_steps: 100, delay_steps: 100}\n"
)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("study") / "tiny.yaml"
    path.write_text(STUDY)
    return path


@pytest.fixture(scope="module")
def first_run(study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run1")
    assert main(["run", str(study), "--out", str(out), "-q"]) == 0
    return out


def test_outputs_and_all_replicates_finish(first_run: Path) -> None:
    for name in ("results.csv", "summary.csv", "report.md", "report.html", "study.sqlite", "provenance.json"):
        assert (first_run / name).exists(), name
    rows = [l.split(",") for l in (first_run / "results.csv").read_text().splitlines()[1:]]
    assert {(r[0], r[1]) for r in rows} == {("connectome", "0"), ("connectome", "1"), ("rewired", "0"), ("rewired", "1")}
    assert {r[3] for r in rows} == {"warmup", "differentiation", "conditioning", "working_memory"}


def test_same_study_same_numbers(study: Path, first_run: Path, tmp_path: Path) -> None:
    assert main(["run", str(study), "--out", str(tmp_path), "-q"]) == 0
    assert (tmp_path / "results.csv").read_text() == (first_run / "results.csv").read_text()


def test_processes_executor_gives_the_same_numbers(study: Path, first_run: Path, tmp_path: Path) -> None:
    assert main(["run", str(study), "--out", str(tmp_path), "-q", "--executor", "processes", "--workers", "2"]) == 0
    assert (tmp_path / "results.csv").read_text() == (first_run / "results.csv").read_text()


def test_a_changed_study_is_refused_in_the_same_directory(study: Path, first_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(first_run, out)
    changed = tmp_path / "tiny.yaml"
    changed.write_text(STUDY.replace("neurons_per_region: 12", "neurons_per_region: 13"))
    assert main(["run", str(changed), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "brain.neurons_per_region: was 12, now 13" in err and "Traceback" not in err
    assert (out / "results.csv").read_text() == (first_run / "results.csv").read_text()


@pytest.mark.parametrize("batch", [1, 2])
def test_exploding_activity_fails_the_replicate_and_the_study_goes_on(batch: int, tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "boom.yaml"
    boom = STUDY.replace(
        "brain: {neurons_per_region: 12, device: cpu}",
        f"brain: {{neurons_per_region: 12, device: cpu, batch: {batch}, neuron: {{kind: lif, ext_rate_factor: 500.0}}}}",
    )
    path.write_text(boom.replace("learning_rule: {kind: eprop, w_min: -200, w_max: 200}\n", ""))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 3  # nothing finished: not a success
    with sqlite3.connect(tmp_path / "out" / "study.sqlite") as db:
        rows = db.execute("SELECT status, error FROM replicates").fetchall()
    assert rows and all(status == "failed" for status, _ in rows)
    assert all("exploded" in error or "finite" in error for _, error in rows), rows
    assert "Failed replicates" in (tmp_path / "out" / "report.md").read_text()


def test_batched_brains_give_the_same_numbers(first_run: Path, tmp_path: Path) -> None:
    path = tmp_path / "batched.yaml"
    path.write_text(STUDY.replace("device: cpu}", "device: cpu, batch: 2}"))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    assert (tmp_path / "out" / "results.csv").read_text() == (first_run / "results.csv").read_text()
