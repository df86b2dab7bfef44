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
