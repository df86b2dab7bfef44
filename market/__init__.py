"""Market library (pure): zones, delivery intervals, units, products, series with knowledge time.

Data in, values out: this package never reads the clock, the environment, files or a database.
"""

from market.calendar import (
    block_index,
    da_publication_utc,
    delivery_day_bounds,
    delivery_day_of,
    delivery_intervals,
    gate_closure_utc,
    local_midnight_utc,
    require_aware,
)
from market.errors import (
    MarketError,
    NaiveDatetimeError,
    SeriesError,
    UnknownProductError,
    UnknownZoneError,
)
from market.names import NAME_RULE, BadNameError, check_name, is_name
from market.products import Direction, Payment, Product
from market.series import KnownSeries, published_after_delivery, published_day_ahead
from market.units import energy_mwh, float_mwh_to_wh, hours, mwh_to_wh, to_money, wh_to_mwh
from market.zones import ZONES, Zone, get_zone, register_zones, restore_zones

__all__ = [
    "NAME_RULE",
    "ZONES",
    "BadNameError",
    "Direction",
    "KnownSeries",
    "MarketError",
    "NaiveDatetimeError",
    "Payment",
    "Product",
    "SeriesError",
    "UnknownProductError",
    "UnknownZoneError",
    "Zone",
    "block_index",
    "check_name",
    "da_publication_utc",
    "delivery_day_bounds",
    "delivery_day_of",
    "delivery_intervals",
    "energy_mwh",
    "float_mwh_to_wh",
    "gate_closure_utc",
    "get_zone",
    "hours",
    "is_name",
    "local_midnight_utc",
    "mwh_to_wh",
    "published_after_delivery",
    "published_day_ahead",
    "register_zones",
    "require_aware",
    "restore_zones",
    "to_money",
    "wh_to_mwh",
]
