"""`encephagen new-plugin KIND NAME`: a package whose tests pass as generated, for every kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contract_fakes import install
from encephagen.cli import main
from encephagen.interfaces import KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_the_generated_package_passes_its_own_tests(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = "lattice" if kind == "null_model" else f"my_{kind}"
    assert main(["new-plugin", kind, name, "--dir", str(tmp_path)]) == 0
    root = tmp_path / f"encephagen-{name}"
    assert str(root) in capsys.readouterr().out
    assert f'{name} = "encephagen_{name}"' in (root / "pyproject.toml").read_text()
    site = tmp_path / "site"
    install(site, root / "src" / f"encephagen_{name}", f"encephagen_{name}", f"encephagen-{name}", "0.1.0", entry=name)
    env = {**os.environ, "PYTHONPATH": str(site) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("ENCEPHAGEN_DISABLE_PLUGIN_AUTOLOAD", None)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                         capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert " passed" in res.stdout and "failed" not in res.stdout


@pytest.mark.parametrize(
    "argv,message",
    [
        (["new-plugin", "nulls", "x"], "KIND: unknown component kind 'nulls'"),
        (["new-plugin", "task", "Bad-Name"], "NAME: 'Bad-Name' is not a lower-case Python identifier"),
        (["new-plugin", "task", "class"], "NAME: 'class' is not a lower-case Python identifier"),
    ],
)
def test_bad_requests_are_one_line(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "encephagen-lattice").mkdir()
    assert main(["new-plugin", "null_model", "lattice", "--dir", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err and list((tmp_path / "encephagen-lattice").iterdir()) == []
