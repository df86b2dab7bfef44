from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market import (
    KnownSeries,
    NaiveDatetimeError,
    SeriesError,
    delivery_intervals,
    get_zone,
    published_after_delivery,
    published_day_ahead,
)

DE = get_zone("DE-LU")
H1 = timedelta(hours=1)


def _da_series(days: list[date]) -> KnownSeries:
    ix = delivery_intervals(days[0], DE, H1)
    for d in days[1:]:
        ix = ix.append(delivery_intervals(d, DE, H1))
    values = pd.Series(range(len(ix)), index=ix, dtype="float64")
    return KnownSeries.from_values(values, published_day_ahead(DE), H1, "EUR/MWh")


def test_da_prices_are_unknown_before_the_auction_result() -> None:
    s = _da_series([date(2024, 6, 1), date(2024, 6, 2)])
    # Results for 2024-06-02 come out at 12:45 CEST on 2024-06-01 = 10:45 UTC.
    before = s.as_of(datetime(2024, 6, 1, 10, 44, tzinfo=UTC))
    after = s.as_of(datetime(2024, 6, 1, 10, 46, tzinfo=UTC))
    assert len(before) == 24  # only 2024-06-01 (published on 2024-05-31)
    assert len(after) == 48
    # Exactly at the publication instant it is not yet known ("strictly before").
    assert len(s.as_of(datetime(2024, 6, 1, 10, 45, tzinfo=UTC))) == 24


def test_revisions_answer_with_the_latest_before_t() -> None:
    ix = delivery_intervals(date(2024, 6, 1), DE, H1)
    first = KnownSeries.from_values(
        pd.Series(1.0, index=ix), published_after_delivery(H1), H1, "EUR/MWh"
    )
    revised = KnownSeries.from_values(
        pd.Series(2.0, index=ix), published_after_delivery(H1, timedelta(days=30)), H1, "EUR/MWh"
    )
    both = first.merged(revised)
    t = datetime(2024, 6, 5, tzinfo=UTC)
    assert (both.as_of(t) == 1.0).all()
    assert (both.final() == 2.0).all()
    assert len(both.between(ix[0].to_pydatetime(), ix[3].to_pydatetime()).final()) == 3


def test_naive_values_and_queries_are_refused() -> None:
    naive = pd.Series([1.0], index=pd.DatetimeIndex([datetime(2024, 1, 1)]))  # noqa: DTZ001
    with pytest.raises(SeriesError, match="naive"):
        KnownSeries.from_values(naive, published_after_delivery(H1), H1, "EUR/MWh")
    s = _da_series([date(2024, 6, 1)])
    with pytest.raises(NaiveDatetimeError):
        s.as_of(datetime(2024, 6, 1))  # noqa: DTZ001


@given(st.datetimes(min_value=datetime(2024, 5, 29), max_value=datetime(2024, 6, 4)))  # noqa: DTZ001
def test_as_of_never_shows_a_value_published_at_or_after_t(t: datetime) -> None:
    s = _da_series([date(2024, 5, 31), date(2024, 6, 1), date(2024, 6, 2)])
    when = t.replace(tzinfo=UTC)
    seen = s.as_of(when)
    pub = s.frame.set_index("interval_start")["published_at"]
    assert (pub.loc[seen.index] < pd.Timestamp(when)).all()
    assert len(seen) == int((pub < pd.Timestamp(when)).sum())
