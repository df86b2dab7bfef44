"""Names that become paths are identifiers (issue 11, defect 7): one rule, checked by site files,
``POST /sites``, the CLI and the scheduler; ``../../x`` is refused with a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.app import create_app
from cli import main
from engine.core.errors import InputFileError
from engine.io.site_file import load_site
from engine.scheduling.schedule import load_config
from engine.sites.registry import parse_site
from market import BadNameError, check_name, is_name
from tests.api.conftest import SITE_TOML, TestClient, assert_error, prepare_home, row_counts
from tests.scheduler.conftest import write_config

ESCAPES = [
    "../../../../srv/escaped",
    "..",
    ".",
    ".hidden",
    "a/b",
    "a\\b",
    "/abs",
    "x\x00y",
    "tab\tname",
    "sp ace",
    "-starts-with-dash",
    "é",
    "a" * 65,
    "",
]


@pytest.mark.parametrize("name", ESCAPES)
def test_the_rule_refuses_anything_that_is_not_one_plain_path_component(name: str) -> None:
    assert not is_name(name)
    with pytest.raises(BadNameError, match="not a valid name"):
        check_name(name, "site")


@pytest.mark.parametrize("name", ["example-dc", "dk1_dc", "DC.2", "a", "a" * 64, "2025-03"])
def test_the_rule_accepts_identifiers(name: str) -> None:
    assert check_name(name) == name


def _site(name: str) -> str:
    return SITE_TOML.replace('name = "example-dc"', f'name = "{name}"', 1)


def test_site_files_and_parsed_sites_refuse_paths(tmp_path: Path) -> None:
    bad = _site("../../../../srv/escaped")
    with pytest.raises(InputFileError, match=r"site\.name: .* is not a valid name"):
        parse_site(bad, "toml")
    path = tmp_path / "escaped.toml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(InputFileError, match="not a valid name") as info:
        load_site(path)
    assert "\n" not in str(info.value)


def test_post_sites_refuses_a_path_as_name(tmp_path: Path) -> None:
    desk = prepare_home(tmp_path / "home", prices=False)
    before = row_counts(desk.engine)
    with TestClient(create_app(desk.settings)) as client:
        for content in (_site("../../../../srv/escaped"), _site("a/b")):
            r = client.post("/sites", json={"content": content}, headers=desk.auth("trader"))
            err = assert_error(r, 422)
            assert "not a valid name" in err["message"]
    assert row_counts(desk.engine) == before


def test_scheduler_refuses_a_site_whose_name_is_a_path(tmp_path: Path) -> None:
    path = write_config(tmp_path / "cfg")
    (tmp_path / "cfg" / "example-dc.toml").write_text(
        _site("../../../../srv/escaped"), encoding="utf-8"
    )
    with pytest.raises(InputFileError, match="not a valid name"):
        load_config(path)


def test_audit_export_refuses_a_path_as_site_or_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POWERDESK_HOME", str(tmp_path / "home"))
    escaped = tmp_path / "srv" / "escaped" / "2025-03"
    escaped.mkdir(parents=True)
    for argv in (
        ["--period", "2025-03", "--site", "../../srv/escaped"],
        ["--period", "../escaped"],
    ):
        with pytest.raises(SystemExit) as info:
            main(["audit", "export", "--out", str(tmp_path / "out"), *argv])
        assert info.value.code == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert "valid name" in err or "expected a month" in err
    assert not (tmp_path / "out").exists()


def test_report_folders_are_built_from_names_only(tmp_path: Path) -> None:
    from engine.core.layout import month_dir, report_dir

    assert report_dir(tmp_path, "example-dc", "2025-03") == (
        tmp_path / "reports" / "example-dc" / "2025-03" / "report"
    )
    for name in ("../../../../srv/escaped", "..", "a/b"):
        with pytest.raises(BadNameError):
            month_dir(tmp_path, name, "2025-03")
