"""Synthetic data of known structure for the forecasting tests (own data, no third party)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from forecast import DailyPanel

FloatArray = npt.NDArray[np.float64]
START = date(2024, 1, 1)  # a Monday


def ar_panel(n_days: int = 200, noise: float = 1.0, seed: int = 0) -> DailyPanel:
    """Prices of a linear daily AR process with one exogenous input and a weekly pattern.

    ``p[d, h] = 20 + 0.5 p[d-1, h] + 0.2 p[d-7, h] + 0.002 load[d, h] + 4 [weekend] + e``,
    ``e ~ N(0, noise²)``; ``load`` is a daily shape plus noise, known for every day.
    """
    rng = np.random.default_rng(seed)
    t = 24
    shape = 10.0 * np.sin(np.linspace(0, 2 * np.pi, t, endpoint=False))
    load = 15000 + 3000 * np.sin(np.linspace(0, 2 * np.pi, t, endpoint=False))[None, :]
    load = load + rng.normal(0, 1500, (n_days, t))
    days = tuple(START + timedelta(days=i) for i in range(n_days))
    p = np.zeros((n_days, t))
    p[:7] = 50 + shape
    for d in range(7, n_days):
        weekend = 4.0 if days[d].weekday() >= 5 else 0.0
        p[d] = (
            20
            + 0.5 * p[d - 1]
            + 0.2 * p[d - 7]
            + 0.002 * (load[d] - 15000)
            + weekend
            + 0.1 * shape
            + rng.normal(0, noise, t)
        )
    return DailyPanel(days, p, load[:, :, None], ("load_mw",))
