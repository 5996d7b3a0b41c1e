"""`encephagen connectome show|export`: look at a connectome, write one (or a surrogate) for use elsewhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encephagen.cli import main


def test_show_prints_size_orientation_groups_and_provenance(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connectome", "show", "tvb:connectivity_96"]) == 0
    out = capsys.readouterr().out
    for needle in ("96", "3860", "rows=targets (TVB convention)", "amygdala", "CoCoMac", "79"):
        assert needle in out


def test_export_writes_rows_as_sources_and_a_surrogate_keeps_degrees(tmp_path: Path) -> None:
    plain, surrogate = tmp_path / "c.npz", tmp_path / "s.npz"
    assert main(["connectome", "export", "tvb:connectivity_96", "--out", str(plain)]) == 0
    assert main(["connectome", "export", "tvb:connectivity_96", "--null", "degree_preserving", "--seed", "3", "--out", str(surrogate)]) == 0
    a, b = np.load(plain), np.load(surrogate)
    assert a["weights"].shape == (96, 96) and len(a["labels"]) == 96 and a["positions"].shape == (96, 3)
    wa, wb = a["weights"].copy(), b["weights"].copy()
    assert np.array_equal(np.diag(wa), np.diag(wb))  # self-loops stay
    np.fill_diagonal(wa, 0)
    np.fill_diagonal(wb, 0)
    assert np.array_equal((wa > 0).sum(0), (wb > 0).sum(0)) and np.array_equal((wa > 0).sum(1), (wb > 0).sum(1))
    assert not np.array_equal(wa, wb)


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["connectome", "show", "tvb:connectivity_99"], "dataset"),
        (["connectome", "show", "tvbb"], "unknown connectome source 'tvbb'"),
        (["connectome", "export", "tvb", "--null", "nope", "--out", "x.npz"], "unknown null model 'nope'"),
    ],
)
def test_bad_requests_get_one_line_and_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_bad_matrix_file_gets_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npy"
    w = np.ones((3, 3))
    w[1, 2] = np.nan
    np.save(bad, w)
    assert main(["connectome", "show", f"file:{bad}"]) == 2
    err = capsys.readouterr().err
    assert "NaN" in err or "non-finite" in err
    assert len(err.strip().splitlines()) == 1
