"""Zones travel between processes intact."""

from __future__ import annotations

import pickle

from market import ZONES


def test_every_zone_pickles_to_an_equal_zone_with_its_products() -> None:
    for zone in ZONES.values():
        back = pickle.loads(pickle.dumps(zone))
        assert back == zone
        assert [back.product(p.key) for p in zone.products] == list(zone.products)
