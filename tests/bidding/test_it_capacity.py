"""``[load] it_capacity_mw`` on a single site: parsed, validated, and binding in the day model."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from bidding import ModelCache, PriceScenarios, SiteError, solve_day
from market import delivery_intervals
from tests.bidding.helpers import make_site, site_dict

DAY = date(2025, 6, 11)


def test_it_capacity_below_base_load_is_refused() -> None:
    d = site_dict()
    d["load"]["it_capacity_mw"] = 9.0
    with pytest.raises(SiteError, match=r"it_capacity_mw: 9 MW is below base_it_mw 10 MW"):
        make_site(**{"load": d["load"]})


def test_it_capacity_spreads_the_job() -> None:
    # 2 MWh at up to 1 MW, cheapest hour at 5: without a cap it runs 1 MW there; with the cap
    # 10.5 MW (0.5 MW above base) it needs four half-MW hours, the next cheapest ones.
    ix = delivery_intervals(DAY, "CAISO")
    prices = np.full(len(ix), 50.0)
    prices[20] = 5.0
    prices[[3, 4, 17]] = 10.0
    load = dict(site_dict()["load"], it_capacity_mw=10.5)
    site = make_site(load=load)
    assert site.load.it_capacity_mw == 10.5
    plan = solve_day(site, "CAISO", DAY, PriceScenarios.point(ix, prices), cache=ModelCache())
    job = plan.job_it_mw[0, 0]
    assert job.max() == pytest.approx(0.5, abs=1e-6)
    assert job[[3, 4, 17, 20]].sum() == pytest.approx(2.0, abs=1e-6)
    assert plan.provenance.objective == pytest.approx(
        10.0 * prices.sum() + 0.5 * (5 + 30), rel=1e-7
    )
