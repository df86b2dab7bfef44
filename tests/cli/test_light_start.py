"""The command line starts without the heavy libraries: commands import them when they run."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("cvxpy", "highspy", "sklearn", "sqlalchemy", "matplotlib", "scipy")


def test_importing_the_cli_loads_no_solver_model_or_database_library() -> None:
    code = (
        "import sys, cli, bidding.errors, forecast.names, forecast.realtime; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


def test_the_lazy_packages_still_give_every_name_they_list() -> None:
    code = (
        "import bidding, forecast\n"
        "for pkg in (bidding, forecast):\n"
        "    for name in pkg.__all__:\n"
        "        getattr(pkg, name)\n"
        "print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "ok"
