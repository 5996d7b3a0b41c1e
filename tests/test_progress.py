"""Progress inside a brain: running brains report their task and steps; the bar reads them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from encephagen.progress import PROGRESS_ENV, Reporter, describe_board, read_board


def test_a_reporter_writes_its_state_and_removes_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path))
    r = Reporter(["rewired #3"], [("rewired", 3)])
    assert read_board(tmp_path)[0]["keys"] == [["rewired", 3]]  # written at once: a crash before the first task shows
    r.start("conditioning", 49_500)
    r.advance(12_000)  # within the write interval: not written yet
    state = json.loads((tmp_path / f"{os.getpid()}.json").read_text())
    assert state == {"brains": ["rewired #3"], "keys": [["rewired", 3]], "task": "conditioning", "done": 0, "planned": 49_500}
    r._last = 0.0
    r.advance(500)
    assert read_board(tmp_path)[0]["done"] == 12_500
    assert describe_board(read_board(tmp_path)) == "rewired #3: conditioning 12,500/49,500"
    r.close()
    assert read_board(tmp_path) == []


def test_without_the_variable_nothing_is_written(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    r = Reporter(["a #0"])
    r.start("warmup", 10)
    r.advance(10)
    r.close()
    assert list(tmp_path.iterdir()) == []


def test_a_progress_file_that_cannot_be_written_never_fails_the_brain(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path / "removed" / "under" / "the run"))  # no such directory
    r = Reporter(["a #0"])
    r.start("warmup", 10)
    r._last = 0.0
    r.advance(10)
    r.close()
    assert r.done == 10 and list(tmp_path.iterdir()) == []


def test_files_left_by_dead_processes_name_their_brains_and_are_not_shown_as_running(tmp_path: Path) -> None:
    from encephagen.progress import orphaned_keys

    dead = 2**22 + 12345  # above the default pid_max of 32-bit pid ranges: no such process
    (tmp_path / f"{dead}.json").write_text(json.dumps({"brains": ["a #1"], "keys": [["a", 1]], "task": "warmup"}))
    (tmp_path / f"{os.getpid()}.json").write_text(json.dumps({"brains": ["b #0"], "keys": [["b", 0]], "task": "warmup"}))
    (tmp_path / "garbled.json").write_text(json.dumps({"keys": [["c"], 5, None]}))
    assert sorted(orphaned_keys(tmp_path)) == [("a", 1), ("b", 0)]  # a new run reads them under its lock
    shown = [s.get("brains") for s in read_board(tmp_path, alive_only=True)]
    assert ["b #0"] in shown and ["a #1"] not in shown


def test_describe_board_shortens_many_brains() -> None:
    states = [{"brains": [f"c #{i}", f"c #{i + 1}"], "task": "warmup", "done": i, "planned": 0} for i in range(5)]
    assert describe_board(states, width=2) == "c #0 +1: warmup 0 | c #1 +1: warmup 1 | +3 more"


def test_a_simulated_brain_reports_every_task_with_its_planned_steps(tmp_path: Path, monkeypatch) -> None:
    """The steps reported while a real (tiny) brain runs reach the planned count of each task."""
    import encephagen.progress as progress
    from encephagen.config import load_yaml, parse_study
    from encephagen.plugins import default_registry
    from encephagen.replicate import run_replicate
    from encephagen.study import plan_for

    seen: list[tuple[str, int, int]] = []
    original = progress.Reporter._write

    def record(self, force: bool = False) -> None:
        seen.append((self.task, self.done, self.planned))
        original(self, force=True)

    monkeypatch.setattr(progress.Reporter, "_write", record)
    monkeypatch.setenv(PROGRESS_ENV, str(tmp_path))
    study = parse_study(load_yaml(
        "name: p\nconnectome: {kind: synthetic, n_regions: 8}\nbrain: {neurons_per_region: 10, device: cpu}\n"
        "conditions: [{name: a}]\nprotocol: [{kind: warmup, steps: 50}, {kind: working_memory, baseline_steps: 10, stim_steps: 20, delay_steps: 30}]\n"
    ), default_registry())
    plan = plan_for(study)
    rep = plan.replicates[0]
    run_replicate(plan.cell(rep.cell).study, plan.connectomes[rep.cell], rep)
    last = {}
    for task, done, planned in seen:
        last[task] = (done, planned)
    assert last == {"": (0, 0), "warmup": (50, 50), "working_memory": (60, 60)}  # "": the brain is being built
    assert not list(tmp_path.glob("*.json"))  # removed when the brain finished
    assert np.all(np.diff([d for t, d, _ in seen if t == "warmup"]) >= 0)
