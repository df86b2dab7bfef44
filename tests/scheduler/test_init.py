"""``powerdesk scheduler init``: a commented default scheduler.toml, never half-written."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cli import main
from engine.scheduling.schedule import SchedulerConfig, load_config

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sites"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_init_writes_the_documented_defaults(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites = [FIXTURES / "example-dc.toml", FIXTURES / "caiso-dc.toml"]
    code, out, err = _run(
        ["scheduler", "init", "--site", str(sites[0]), "--site", str(sites[1])], capsys
    )
    assert (code, err) == (0, "")
    path = home / "scheduler.toml"
    assert str(path) in out
    text = path.read_text()
    assert text.count("# ") > 10  # commented
    cfg = load_config(path)
    assert [s.name for s in cfg.sites] == ["example-dc", "caiso-dc"]
    assert [s.path.resolve() for s in cfg.sites] == [s.resolve() for s in sites]
    # Every setting at the default of the configuration format.
    defaults = SchedulerConfig(sites=cfg.sites, source=path)
    assert dataclasses.asdict(cfg) == dataclasses.asdict(defaults)
    code, out, _ = _run(["scheduler", "jobs", "--json"], capsys)
    assert code == 0
    assert len(json.loads(out)) == 6


def test_init_refuses_to_overwrite_without_force(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / "scheduler.toml"
    home.mkdir(parents=True)
    path.write_text("# mine\n")
    site = str(FIXTURES / "example-dc.toml")
    code, _, err = _run(["scheduler", "init", "--site", site], capsys)
    assert code == 1
    assert err.strip() == f"powerdesk: error: {path} exists: keep it, or pass --force to replace it"
    assert path.read_text() == "# mine\n"
    code, _, err = _run(["scheduler", "init", "--site", site, "--force"], capsys)
    assert (code, err) == (0, "")
    assert [s.name for s in load_config(path).sites] == ["example-dc"]


def test_init_defaults_to_the_site_files_in_home(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["scheduler", "init"], capsys)
    assert code == 1
    assert "no site files in" in err
    assert err.count("\n") == 1
    (home / "sites").mkdir(parents=True)
    (home / "sites" / "example-dc.toml").write_bytes((FIXTURES / "example-dc.toml").read_bytes())
    code, _, err = _run(["scheduler", "init"], capsys)
    assert (code, err) == (0, "")
    text = (home / "scheduler.toml").read_text()
    assert 'file = "sites/example-dc.toml"' in text  # relative: the home can move


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "does not exist"),
        ('name = "x"\nzone = "NOWHERE"\n', "NOWHERE"),
        ("not toml [", "not a TOML site file"),
    ],
)
def test_a_bad_site_writes_nothing(
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    needle: str,
) -> None:
    site = tmp_path / "bad.toml"
    if content is not None:
        site.write_text(content)
    config = tmp_path / "conf" / "scheduler.toml"
    code, _, err = _run(["scheduler", "init", "--site", str(site), "--config", str(config)], capsys)
    assert code == 1
    assert needle in err
    assert err.count("\n") == 1
    assert not config.exists()
    leftovers = list(config.parent.glob("*")) if config.parent.exists() else []
    assert leftovers == []  # no temporary file either
