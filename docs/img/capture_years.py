"""Draw docs/img/capture_years.png: full-year capture per market, price model and reserve ask.

The figures are those of docs/decision-quality.md (each from a run's summary.json: ``capture``
and ``realtime_stage.capture``). Run: ``.venv/bin/python docs/img/capture_years.py``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# (label, DA-only capture, DA+RT capture or None)
RUNS = [
    ("DE-LU 2024  similar days, ask = forecast (before)", 0.7345, 0.7602),
    ("DE-LU 2024  lear, ask = forecast (before)", 0.7268, 0.7406),
    ("DE-LU 2024  similar days, ask = delivery cost", 0.9033, 0.9290),
    ("DE-LU 2024  similar days, aFRR paid as bid, shaded ask", 0.8991, 0.9256),
    ("DE-LU 2024  deterministic, ask = delivery cost", 0.9011, 0.9343),
    ("DE-LU 2024  lear, ask = delivery cost", 0.8942, 0.9081),
    ("Gansu 2024  similar days", 0.5520, 0.7713),
    ("Gansu 2024  gbm + published inputs", 0.6876, 0.7917),
    ("Gansu 2024  gbm, deterministic", 0.6685, 0.7776),
    ("Gansu 2024  gbm, re-plans every hour", 0.6876, 0.8436),
    ("Gansu 2024  gbm, deterministic, every hour", 0.6685, 0.8256),
    ("Gansu 2024  gbm, re-plans every quarter-hour", 0.6876, 0.8739),
    ("DK1 2022-23  similar days (no RT prices)", 0.8176, None),
    ("DK1 2022-23  gbm, no inputs (no RT prices)", 0.7445, None),
    ("DK1 2022-23  lear (no RT prices)", 0.8030, None),
]


def main() -> None:
    fig, ax = plt.subplots(figsize=(9, 4.6))
    y = list(range(len(RUNS)))[::-1]
    da = [r[1] for r in RUNS]
    rt = [r[2] if r[2] is not None else float("nan") for r in RUNS]
    ax.barh([v + 0.18 for v in y], da, height=0.36, label="DA only", color="#4c72b0")
    ax.barh([v - 0.18 for v in y], rt, height=0.36, label="DA + real-time stage", color="#dd8452")
    ax.axvline(0.8, color="k", lw=0.8, ls="--")
    ax.set_yticks(y, [r[0] for r in RUNS], fontsize=8)
    ax.set_xlim(0.4, 1.0)
    ax.set_xlabel("capture of the value of flexibility (10 scenarios where stochastic)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("Full measured years: capture per market and price model", fontsize=10)
    fig.tight_layout()
    fig.savefig(Path(__file__).with_name("capture_years.png"), dpi=110)


if __name__ == "__main__":
    main()
