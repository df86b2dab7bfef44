"""Cron triggers in the zone's local time fire once per local day, DST days included."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from engine.scheduling.schedule import JobKind, JobSpec, job_specs
from market import gate_closure_utc
from tests.scheduler.conftest import config


def _fires(spec: JobSpec, count: int, start: datetime | None = None) -> list[datetime]:
    """The next ``count`` fire times of the spec's trigger from ``start`` or the (frozen) clock."""
    trigger = spec.trigger()
    out: list[datetime] = []
    prev: datetime | None = None
    now = start or datetime.now(UTC)
    for _ in range(count):
        nxt = trigger.get_next_fire_time(prev, now)
        assert nxt is not None
        out.append(nxt.astimezone(UTC))
        prev = now = nxt
    return out


def _spec(tmp_path: Path, zone: str, kind: JobKind, body: str = "") -> JobSpec:
    specs = job_specs(config(tmp_path, (("dc", zone),), body))
    return next(s for s in specs if s.kind is kind)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Europe/Berlin, gate closure 12:00, lead 60 min -> 11:00 local; spring forward 03-30
        (
            "DE-LU",
            "2025-03-28T00:00:00Z",
            ["2025-03-28T10:00Z", "2025-03-29T10:00Z", "2025-03-30T09:00Z", "2025-03-31T09:00Z"],
        ),
        # fall back 10-26: 11:00 CEST (09:00Z) -> 11:00 CET (10:00Z)
        (
            "DE-LU",
            "2025-10-24T12:00:00Z",
            ["2025-10-25T09:00Z", "2025-10-26T10:00Z", "2025-10-27T10:00Z", "2025-10-28T10:00Z"],
        ),
        # America/Chicago, gate closure 10:00, lead 60 -> 09:00 local; DST 03-09 and 11-02
        (
            "ERCOT",
            "2025-03-07T16:00:00Z",
            ["2025-03-08T15:00Z", "2025-03-09T14:00Z", "2025-03-10T14:00Z", "2025-03-11T14:00Z"],
        ),
        (
            "ERCOT",
            "2025-10-31T16:00:00Z",
            ["2025-11-01T14:00Z", "2025-11-02T15:00Z", "2025-11-03T15:00Z", "2025-11-04T15:00Z"],
        ),
    ],
)
def test_bid_trigger_fires_at_local_wall_time_across_dst(
    tmp_path: Path, zone: str, start: str, expected: list[str]
) -> None:
    spec = _spec(tmp_path, zone, JobKind.BID)
    with freeze_time(start):
        fires = _fires(spec, len(expected))
    assert fires == [_utc(e.replace("Z", "+00:00")) for e in expected]
    tz = ZoneInfo(spec.tz)
    local = [f.astimezone(tz) for f in fires]
    assert all((t.hour, t.minute) == (11 if zone == "DE-LU" else 9, 0) for t in local)
    # the engine's own fire instants (used for catch-up) agree with the trigger, and every bid
    # fires before its delivery day's gate closure
    days = [t.date() + timedelta(days=1) for t in local]
    assert [spec.fire_utc(d) for d in days] == fires
    assert all(f < gate_closure_utc(d, zone) for f, d in zip(fires, days, strict=True))


@pytest.mark.parametrize("zone", ["DE-LU", "ERCOT", "CN-GS"])
def test_exactly_one_fire_per_local_day_over_a_year(tmp_path: Path, zone: str) -> None:
    spec = _spec(tmp_path, zone, JobKind.SETTLE)
    with freeze_time("2024-12-31T23:00:00Z"):
        fires = _fires(spec, 400)
    local_days = [f.astimezone(ZoneInfo(spec.tz)).date() for f in fires]
    in_2025 = [d for d in local_days if d.year == 2025]
    assert len(in_2025) == 365
    assert len(set(in_2025)) == 365
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(local_days))
    # settlement of day D fires on D + 1 at 10:00 local, as the catch-up computes it
    assert all(
        spec.fire_utc(d - timedelta(days=1)) == f for d, f in zip(local_days, fires, strict=True)
    )


def test_monthly_report_fires_on_the_first_in_local_time(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "DE-LU", JobKind.REPORT)
    with freeze_time("2025-02-15T00:00:00Z"):
        fires = _fires(spec, 3)
    # 06:00 local on the 1st: CET in March, CEST in April and May
    assert fires == [
        datetime(2025, 3, 1, 5, 0, tzinfo=UTC),
        datetime(2025, 4, 1, 4, 0, tzinfo=UTC),
        datetime(2025, 5, 1, 4, 0, tzinfo=UTC),
    ]
    assert [spec.key_for(date(2025, m, 1)) for m in (2, 3, 4)] == [
        "report:dc:2025-02",
        "report:dc:2025-03",
        "report:dc:2025-04",
    ]
    assert spec.fire_utc(date(2025, 2, 1)) == fires[0]


def test_wall_times_in_the_dst_gap_and_overlap(tmp_path: Path) -> None:
    """02:30 does not exist on 2025-03-30 and happens twice on 2025-10-26 in Berlin.

    APScheduler 3 fires once on the spring day (at 01:30Z) and twice on the autumn day; the
    catch-up computes the first instant of each, and the run-once claim turns the second autumn
    fire into a no-op (tested in test_runner). The real clock is used here: freezegun's fake
    datetimes drop the ``fold`` of the repeated hour.
    """
    spec = _spec(tmp_path, "DE-LU", JobKind.SETTLE, '[settle]\ntime = "02:30"')
    spring = _fires(spec, 3, datetime(2025, 3, 29, tzinfo=UTC))
    assert spring == [
        datetime(2025, 3, 29, 1, 30, tzinfo=UTC),
        datetime(2025, 3, 30, 1, 30, tzinfo=UTC),
        datetime(2025, 3, 31, 0, 30, tzinfo=UTC),
    ]
    assert spec.fire_utc(date(2025, 3, 29)) == spring[1]
    autumn = _fires(spec, 3, datetime(2025, 10, 25, 12, tzinfo=UTC))
    assert autumn == [
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
        datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
        datetime(2025, 10, 27, 1, 30, tzinfo=UTC),
    ]
    assert spec.fire_utc(date(2025, 10, 25)) == autumn[0]
