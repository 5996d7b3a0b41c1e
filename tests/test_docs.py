"""Every code block marked runnable in docs/ and README.md runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
BLOCK = re.compile(r"<!-- runnable -->\s*```python\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    out = []
    for md in sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]):
        for i, code in enumerate(BLOCK.findall(md.read_text())):
            out.append((f"{md.relative_to(ROOT)}#{i}", code))
    return out


BLOCKS = _blocks()


def test_docs_have_runnable_examples() -> None:
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("where,code", BLOCKS, ids=[b[0] for b in BLOCKS])
def test_runnable_block(where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})
