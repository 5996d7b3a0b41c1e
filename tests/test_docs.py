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
    import sys
    import types

    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("__docs__")  # a real module, as a script or notebook has (type hints resolve in it)
    monkeypatch.setitem(sys.modules, "__docs__", module)
    exec(compile(code, where, "exec"), module.__dict__)


def test_study_file_reference_is_generated_from_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/study-file.md equals what the schema generates (regenerate with
    ``ENCEPHAGEN_DISABLE_PLUGIN_AUTOLOAD=1 python -m encephagen.docgen > docs/study-file.md``)."""
    from encephagen.docgen import render
    from encephagen.plugins import DISABLE_AUTOLOAD_ENV, build_registry

    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    page = (ROOT / "docs" / "study-file.md").read_text()
    assert page == render(build_registry()), "docs/study-file.md is stale: regenerate it"


def test_metric_reference_is_generated_from_the_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/metrics.md equals what the tasks describe (regenerate with
    ``ENCEPHAGEN_DISABLE_PLUGIN_AUTOLOAD=1 python -m encephagen.docgen metrics > docs/metrics.md``)."""
    from encephagen.docgen import render_metrics
    from encephagen.plugins import DISABLE_AUTOLOAD_ENV, build_registry

    monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, "1")
    page = (ROOT / "docs" / "metrics.md").read_text()
    assert page == render_metrics(build_registry()), "docs/metrics.md is stale: regenerate it"
    assert "| `accuracy` | 1 | higher | 0.2 |" in page  # discrimination's default: 5 patterns
    assert "With `test_before: true` also:" in page and "`cond_gain`" in page


def test_every_schema_key_is_in_the_reference_and_vice_versa() -> None:
    from encephagen.docgen import study_keys

    page = (ROOT / "docs" / "study-file.md").read_text()
    sections = re.split(r"^## ", page, flags=re.M)
    documented = {}
    for sec in sections[1:]:
        title = sec.splitlines()[0]
        documented[title] = set(re.findall(r"^\| `(\w+)` \|", sec, flags=re.M))
    expected = {
        "Top level": "study", "`conditions[]`": "conditions[]", "`factors`": "factors", "`statistics`": "statistics",
        "`report`": "report", "`brain`": "brain", "`brain.delays`": "brain.delays", "`brain.cellular`": "brain.cellular", "`connectome`": "connectome",
    }  # fmt: skip
    for title, key in expected.items():
        assert documented[title] == set(study_keys()[key]), f"section {title!r} and the schema disagree"


def test_every_key_in_the_reference_has_a_description() -> None:
    page = (ROOT / "docs" / "study-file.md").read_text()
    bare = re.findall(r"^\| `(\w+)` \|[^\n]*\|\s*\|$", page, flags=re.M)
    assert not bare, f"keys without a description (add an ':ivar key:' line to the class docstring): {bare}"


def _study_blocks() -> list[tuple[str, str]]:
    out = []
    for md in sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]):
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", md.read_text(), re.S)):
            if re.search(r"^name:", block, re.M) and re.search(r"^protocol:", block, re.M):
                out.append((f"{md.relative_to(ROOT)}#yaml{i}", block))
    return out


@pytest.mark.parametrize("where,text", _study_blocks(), ids=[b[0] for b in _study_blocks()])
def test_every_whole_study_file_in_the_docs_validates(where: str, text: str, tmp_path: Path) -> None:
    from encephagen.plugins import default_registry
    from encephagen.study import prepare

    path = tmp_path / "study.yaml"
    path.write_text(text)
    assert prepare(path, default_registry()).replicates, where
