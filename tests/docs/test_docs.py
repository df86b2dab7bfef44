"""The documentation says what the code does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bidding import Site

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _blocks(doc: str, language: str) -> list[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_site_file_example_is_the_bundled_fixture_and_valid() -> None:
    (example,) = _blocks("site-file.md", "toml")
    fixture = ROOT / "fixtures" / "sites" / "example-dc.toml"
    documented = tomllib.loads(example)
    assert documented == tomllib.loads(fixture.read_text(encoding="utf-8"))
    site = Site.from_dict(documented)
    assert [j.name for j in site.jobs] == ["training", "nightly-eval"]
    assert site.reserve_products == ("FCR", "AFRR_UP", "AFRR_DOWN")


def _section(doc: str, heading: str) -> str:
    text = (DOCS / doc).read_text(encoding="utf-8")
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : None if end < 0 else end]


def test_every_import_format_is_documented() -> None:
    from engine.io.formats import FORMATS

    table = _section("formats.md", "`powerdesk prices import` source formats")
    rows = [line for line in table.splitlines() if line.startswith("| `")][1:]  # not the header
    documented = [key for row in rows for key in re.findall(r"`([a-z0-9-]+)`", row.split("|")[1])]
    assert sorted(documented) == sorted(FORMATS)


def test_the_engine_layers_drawn_are_the_import_contract() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = pyproject["tool"]["importlinter"]["contracts"]
    (inside,) = [c for c in contracts if c.get("containers") == ["engine"]]
    drawing = _section("architecture.md", "Inside `engine`").split("```")[1]
    drawn = [
        re.split(r"\s{3,}", line.strip())[0].replace("  |  ", " | ")
        for line in drawing.splitlines()
        if line.strip() and line.strip() != "▼"
    ]
    assert drawn == [" | ".join(p.strip() for p in layer.split("|")) for layer in inside["layers"]]


def test_the_project_cites_no_document_outside_itself() -> None:
    """Everything a user needs is in the repository: no reference to the team's notes beside it
    (only SOURCES.md files name where their data was copied from)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    files = subprocess.run(
        ["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    pattern = re.compile(r"CONTRACTS\.md|CARBON\.md|\.\./shared")
    hits = []
    for name in files:
        if name.endswith("SOURCES.md") or name == "tests/docs/test_docs.py":
            continue
        path = root / name
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        hits += [
            f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if pattern.search(line)
        ]
    assert hits == []
