"""Market data in: canonical price files, importers for real-world formats, the price store.

See :mod:`engine.prices.canonical` for the canonical CSV forms (the one format every other part of
powerdesk reads), :mod:`engine.prices.formats` for the importers and :mod:`engine.prices.store`
for loading canonical files into the database.
"""

from engine.prices.canonical import (
    EF_COLUMNS,
    price_series,
    read_ef_csv,
    read_price_csv,
    read_price_frame,
    read_reserve_price_csv,
    read_reserve_price_frame,
    reserve_series,
    write_ef_csv,
    write_price_csv,
    write_reserve_price_csv,
)

__all__ = [
    "EF_COLUMNS",
    "price_series",
    "read_ef_csv",
    "read_price_csv",
    "read_price_frame",
    "read_reserve_price_csv",
    "read_reserve_price_frame",
    "reserve_series",
    "write_ef_csv",
    "write_price_csv",
    "write_reserve_price_csv",
]
