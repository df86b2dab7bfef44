"""Feature files: exogenous day-ahead inputs as data, with knowledge times; bad files are
one-line errors that write nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from cli import main
from engine.core.errors import InputFileError, PowerdeskError
from engine.io.features import DEFAULT_LEAD, read_feature_csv
from engine.io.formats import import_file, write_import
from engine.marketdata.view import MarketData
from market import KnownSeries, delivery_intervals, gate_closure_utc, get_zone

ZONE = get_zone("CN-GS")


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


DAYS = [date(2024, 3, 1) + timedelta(days=k) for k in range(3)]


def _file(path: Path, days: list[date] = DAYS, extra: str = "", skip: int | None = None) -> Path:
    rows = ["interval_start,load_forecast_mw,wind_forecast_mw" + extra]
    n = 0
    for day in days:
        for t in delivery_intervals(day, ZONE):
            n += 1
            if skip is not None and n == skip:
                continue
            row = f"{t.isoformat()},{16000 + n},{100 + n % 7}"
            if extra:
                row += "," + (gate_closure_utc(day, ZONE) - timedelta(hours=2)).isoformat()
            rows.append(row)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_features_read_with_knowledge_times(tmp_path: Path) -> None:
    fs = read_feature_csv([_file(tmp_path / "f.csv")], ZONE)
    assert sorted(fs.columns) == ["load_forecast_mw", "wind_forecast_mw"]
    load = fs.columns["load_forecast_mw"]
    first = delivery_intervals(DAYS[0], ZONE)[0]
    gate = gate_closure_utc(DAYS[0], ZONE)
    assert load.as_of(gate).loc[first] == 16001
    published = load.frame.loc[load.frame["interval_start"] == first, "published_at"].iloc[0]
    assert published == pd.Timestamp(gate - DEFAULT_LEAD)
    # A decision before that publication sees nothing of day 1.
    assert first not in load.as_of(gate - DEFAULT_LEAD).index
    explicit = read_feature_csv([_file(tmp_path / "k.csv", extra=",knowledge_time")], ZONE)
    kt = explicit.columns["wind_forecast_mw"].frame["published_at"].iloc[0]
    assert kt == pd.Timestamp(gate - timedelta(hours=2))


def test_market_data_views_cut_features(tmp_path: Path) -> None:
    fs = read_feature_csv([_file(tmp_path / "f.csv")], ZONE)
    da = KnownSeries.from_values(
        pd.Series(1.0, index=delivery_intervals(DAYS[0], ZONE)),
        lambda idx: pd.DatetimeIndex([gate_closure_utc(DAYS[0], ZONE)] * len(idx)),
        timedelta(minutes=15),
        "CNY/MWh",
    )
    data = MarketData(da, features=fs.columns)
    view = data.as_of(gate_closure_utc(DAYS[1], ZONE))
    seen = view.features["load_forecast_mw"].final()
    assert set(seen.index) == set(delivery_intervals(DAYS[0], ZONE)) | set(
        delivery_intervals(DAYS[1], ZONE)
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: _file(p, [DAYS[0], DAYS[2]]), "delivery day 2024-03-02 is incomplete"),
        (lambda p: _file(p, skip=5), "delivery day 2024-03-01 is incomplete"),
        (
            lambda p: p.write_text(_file(p).read_text().replace(",16003,", ",n/a,", 1)) and p,
            "load_forecast_mw 'n/a' is not a number",
        ),
        (
            lambda p: p.write_text(_file(p).read_text().replace(",16003,", ",nan,", 1)) and p,
            "load_forecast_mw 'nan' is not a finite number",
        ),
        (
            lambda p: (
                p.write_text(
                    _file(p, extra=",knowledge_time")
                    .read_text()
                    .replace("T00:00:00+00:00\n", "T09:00:00+00:00\n", 1)
                )
                and p
            ),
            "is later than gate closure",
        ),
        (
            lambda p: p.write_text(_file(p).read_text().replace("+00:00", "", 1)) and p,
            "naive timestamp",
        ),
    ],
)
def test_bad_feature_files_are_one_line_errors(tmp_path: Path, make: object, message: str) -> None:
    path = make(tmp_path / "bad.csv")  # type: ignore[operator]
    with pytest.raises(InputFileError, match=message) as info:
        read_feature_csv([path], ZONE)
    assert "\n" not in str(info.value)


def test_columns_must_not_change_between_files(tmp_path: Path) -> None:
    a = _file(tmp_path / "a.csv")
    b = tmp_path / "b.csv"
    b.write_text(a.read_text().replace("wind_forecast_mw", "solar_forecast_mw"))
    with pytest.raises(InputFileError, match="differ from load_forecast_mw, wind_forecast_mw"):
        read_feature_csv([a, b], ZONE)


def _gansu_source(path: Path) -> Path:
    header = (
        ",date,time_order,provincial_load_forecast,wind_power_forecast,"
        "photovoltaic_power_forecast,dayahead_clearing_price,realtime_clearing_price"
    )
    rows = [header]
    i = 0
    for day in DAYS:
        for k in range(1, 97):
            rows.append(f"{i},{day},{k},{16000 + k},{100 + k},{k % 9},{100 + k},{110 + k}")
            i += 1
    path.write_text("\n".join(rows) + "\n")
    return path


def test_gansu_import_writes_its_forecasts_as_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _gansu_source(tmp_path / "gansu.csv")
    out, feats = tmp_path / "da.csv", tmp_path / "features.csv"
    argv = ["prices", "import", str(src), "--format", "gansu", "--out", str(out)]
    assert run([*argv, "--features-out", str(feats)]) == 0
    fs = read_feature_csv([feats], ZONE)
    assert sorted(fs.columns) == [
        "photovoltaic_power_forecast_mw",
        "provincial_load_forecast_mw",
        "wind_power_forecast_mw",
    ]
    first = delivery_intervals(DAYS[0], ZONE)[0]
    assert fs.columns["provincial_load_forecast_mw"].final().loc[first] == 16001
    # A source without features: a one-line error, and no file is written.
    imported = import_file(src, "gansu")
    bare = replace(imported, features=None)
    out2, feats2 = tmp_path / "da2.csv", tmp_path / "f2.csv"
    with pytest.raises(PowerdeskError, match="carries no features"):
        write_import(bare, out2, features_out=feats2)
    assert not out2.exists()
    assert not feats2.exists()


def test_features_stored_in_the_database_read_back_equal(tmp_path: Path) -> None:
    from sqlmodel import Session

    from engine.core.db import make_engine, migrate
    from engine.marketdata.store import load_price_file
    from engine.marketdata.view import from_database

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    src = _gansu_source(tmp_path / "gansu.csv")
    imported = import_file(src, "gansu")
    write_import(imported, tmp_path / "da.csv", features_out=tmp_path / "f.csv")
    with Session(engine) as session:
        load_price_file(session, tmp_path / "da.csv", ZONE)
        loaded = load_price_file(session, tmp_path / "f.csv", ZONE)
        session.commit()
    assert loaded.rows == 3 * 96 * 3
    with Session(engine) as session:
        data = from_database(session, ZONE)
    files = read_feature_csv([tmp_path / "f.csv"], ZONE).columns
    assert sorted(data.features) == sorted(files)
    for name, series in files.items():
        stored = data.features[name]
        assert stored.frame.reset_index(drop=True).equals(series.frame.reset_index(drop=True))


class _DecidedError(Exception):
    pass


@pytest.mark.parametrize(("stored_features", "requested", "expected"), [
    (True, None, "gbm"),
    (False, None, "similar-days"),
    (True, "lear", "lear"),
])  # fmt: skip
def test_a_bid_from_the_database_takes_the_price_model_the_files_would(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stored_features: bool,
    requested: str | None,
    expected: str,
) -> None:
    """The API's and the scheduler's bid (stored data) picks its price model by the rule the
    file-based commands use: Gansu with its published inputs stored defaults to gbm."""
    import engine.bids.service as service
    from engine.core.db import make_engine, migrate
    from engine.marketdata.store import load_price_file
    from engine.sites.registry import register_site
    from engine.strategies.registry import price_model

    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate(engine)
    imported = import_file(_gansu_source(tmp_path / "gansu.csv"), "gansu")
    write_import(imported, tmp_path / "da.csv", features_out=tmp_path / "f.csv")
    from sqlmodel import Session

    with Session(engine) as session:
        load_price_file(session, tmp_path / "da.csv", ZONE)
        if stored_features:
            load_price_file(session, tmp_path / "f.csv", ZONE)
        session.commit()
    site = Path(__file__).resolve().parents[2] / "fixtures" / "sites" / "gansu-dc.toml"
    register_site(engine, site.read_text(), "toml")
    seen: list[str] = []

    def decide(
        name: str,
        site: object,
        zone: object,
        day: date,
        data: MarketData,
        config: object,
        **kw: object,
    ) -> None:
        seen.append(config.model)  # type: ignore[attr-defined]
        assert price_model(ZONE, data, requested) == expected  # the rule the shells ask
        raise _DecidedError

    monkeypatch.setattr(service, "decide", decide)
    with pytest.raises(_DecidedError):
        service.build_bid(
            engine, service.BidRequest("gansu-dc", DAYS[2], "deterministic", model=requested)
        )
    assert seen == [expected]
