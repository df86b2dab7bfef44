"""Green-electricity trading contracts and unbundled GEC purchases through the engine: one
ledger transaction each, bundled certificates marked and never resold alone, retries append
nothing, bad files are one-line errors that write nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select

from carbon.cn import green_supply
from engine.certificates.green import (
    T_GREEN,
    Signer,
    add_contract_text,
    buy_gecs,
    key_signer,
    settle_contract_month,
)
from engine.certificates.ppa_delivery import (
    ensure_device,
    ensure_party_key,
    issue_month,
    site_retirements,
)
from engine.certificates.store import LedgerRejectedError, LedgerStore, sign_and_append
from engine.core.db import make_engine, migrate
from engine.core.errors import InputFileError, PowerdeskError
from ledger.errors import BundledError
from ledger.events import Split, Transfer, TransferBundled, decode_leaf
from ledger.green import month_interval
from ledger.keys import Role, raw_public_key
from ledger.schemes import Scheme
from ledger.state import replay

pytestmark = pytest.mark.usefixtures("historical_ledger")

AT = datetime(2024, 7, 15, tzinfo=UTC)
MWH = 1_000_000
CONTRACT = """
id = "GT-HEXI-2024-06"
buyer = "gansu-dc"
seller = "hexi-wind"
plant = "GS-WIND-1"
site = "gansu-dc"
zone = "CN-GS"
currency = "CNY"

[[period]]
start = 2024-06-01T00:00:00+08:00
end = 2024-07-01T00:00:00+08:00
energy_mwh = 3000
price_per_mwh = "260.50"
"""
STATEMENT = """
month = "2024-06"
[[metered]]
start = 2024-06-01T00:00:00+08:00
generation_mwh = "2500.5"
"""
PURCHASE = """
id = "GEC-P-1"
buyer = "gansu-dc"
seller = "hexi-wind"
plant = "GS-WIND-1"
month = "2024-06"
amount_mwh = 1000
price_per_mwh = "4.20"
currency = "CNY"
site = "dc-jiangsu"
zone = "CN-JS"
"""


class World:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = LedgerStore(engine)
        self.operator = Ed25519PrivateKey.generate()
        self.registry = Ed25519PrivateKey.generate()
        self.seller = Ed25519PrivateKey.generate()
        self.buyer = Ed25519PrivateKey.generate()
        self.store.initialise(self.operator, AT)
        for key, party, role in [
            (self.registry, "gec-registry", Role.ISSUER),
            (self.seller, "hexi-wind", Role.OWNER),
            (self.buyer, "gansu-dc", Role.OWNER),
        ]:
            ensure_party_key(self.store, self.operator, key, party, frozenset({role}), AT)
        ensure_device(self.store, self.registry, "GS-WIND-1", 200_000_000, "wind", "CN-GS", AT)
        start, end = month_interval("2024-06")
        issue_month(
            self.store,
            self.registry,
            "GS-WIND-1",
            Scheme.CHINA_GEC,
            start,
            end,
            5_000_400_000,  # 5000.4 MWh metered: 5000 GECs, 0.4 MWh carried to July
            "hexi-wind",
            "GEC-GS-WIND-1-202406",
            AT,
            "gec:GS-WIND-1:2024-06",
        )
        self.keys = {"hexi-wind": self.seller, "gansu-dc": self.buyer}

    def size(self) -> int:
        return self.store.head()[0]

    def records(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(T_GREEN)).scalar_one())


@pytest.fixture
def world(tmp_path: Path) -> World:
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    migrate(engine)
    return World(engine)


def _signer(w: World) -> Signer:
    return key_signer(w.store, w.keys, AT)


def _settle(w: World, statement: str = STATEMENT) -> dict[str, object]:
    sign = key_signer(w.store, w.keys, AT)
    return settle_contract_month(w.engine, w.store, "GT-HEXI-2024-06", statement, "june.toml", sign)


def test_a_statement_settles_money_and_moves_bundled_gecs(world: World) -> None:
    add_contract_text(world.engine, CONTRACT)
    out = _settle(world)
    result = out["result"]
    assert isinstance(result, dict)
    # Q = 3000 MWh at 260.50 = 781,500 CNY; generation 2500.5 MWh -> 2500 whole GECs.
    assert result["payment"] == "781500.00"
    assert result["shortfall_wh"] == 499_500_000
    assert result["gec_bundled_wh"] == 2500 * MWH
    bought = buy_gecs(world.engine, world.store, PURCHASE, "p.toml", _signer(world))
    assert bought["result"]["cost"] == "4200.00"  # type: ignore[index]
    start, end = month_interval("2024-06")
    gs = site_retirements(world.store.bundles(), "gansu-dc", start, end)
    js = site_retirements(world.store.bundles(), "dc-jiangsu", start, end)
    assert {r.bundled for r in gs} == {True}
    assert {r.bundled for r in js} == {False}
    supply = green_supply(gs, onsite_renewable=0) + green_supply(js, onsite_renewable=0)
    assert supply.green_power_trading == 2500
    assert supply.gec_unbundled == 1000
    # The seller keeps the rest: 5000 - 2500 - 1000 GECs, unbundled and active.
    left = [b for b in world.store.bundles(owner="hexi-wind") if b.status == "active"]
    assert sum(b.energy_wh for b in left) == 1500 * MWH
    # The database state is the replay of the log, conserved.
    state = replay(
        raw_public_key(world.operator.public_key()),
        [decode_leaf(x) for x in world.store.leaves()],
    )
    state.check_conservation()
    assert {b.bundle_id: b for b in world.store.bundles()} == state.bundles


def test_bundled_gecs_cannot_be_resold_separately(world: World) -> None:
    add_contract_text(world.engine, CONTRACT)
    _settle(world)
    retired = [b for b in world.store.bundles(owner="gansu-dc") if b.contract is not None]
    assert retired
    assert all(b.contract == "GT-HEXI-2024-06" for b in retired)
    # What the seller still holds is unbundled; once bundled, a bundle cannot move alone.
    free = next(b for b in world.store.bundles(owner="hexi-wind") if b.status == "active")
    sign_and_append(
        world.store, world.seller, Split(free.bundle_id, (MWH, free.energy_wh - MWH)), AT
    )
    part = next(
        b
        for b in world.store.bundles(owner="hexi-wind")
        if b.status == "active" and b.energy_wh == MWH
    )
    sign_and_append(
        world.store, world.seller, TransferBundled(part.bundle_id, "gansu-dc", "GT-X"), AT
    )
    size = world.size()
    with pytest.raises(LedgerRejectedError) as info:
        sign_and_append(world.store, world.buyer, Transfer(part.bundle_id, "someone"), AT)
    assert isinstance(info.value.error, BundledError)
    assert "cannot be transferred separately" in str(info.value)
    assert world.size() == size


def test_a_retry_appends_nothing_and_returns_the_first_result(world: World) -> None:
    add_contract_text(world.engine, CONTRACT)
    first = _settle(world)
    size, records = world.size(), world.records()
    again = _settle(world)
    assert again["replayed"] is True
    assert again["ledger_indexes"] == first["ledger_indexes"]
    assert (world.size(), world.records()) == (size, records)


def test_a_retry_after_a_stop_between_append_and_record_recovers_from_the_log(
    world: World,
) -> None:
    """The ledger append and the record are two transactions: a run stopped between them left
    the GECs moved but nothing recorded. The retry rebuilds the record from the log (the events
    carry the statement's or purchase's reference in their idempotency keys) and appends
    nothing; before, it re-planned the moves and failed ("seller holds too few")."""
    add_contract_text(world.engine, CONTRACT)
    first = _settle(world)
    bought = buy_gecs(world.engine, world.store, PURCHASE, "p.toml", _signer(world))
    size, records = world.size(), world.records()
    with world.engine.begin() as conn:  # the stop: the records were never written
        conn.execute(T_GREEN.delete().where(T_GREEN.c.kind.in_(["statement", "purchase"])))
    again = _settle(world)
    again_bought = buy_gecs(world.engine, world.store, PURCHASE, "p.toml", _signer(world))
    assert (world.size(), world.records()) == (size, records)
    for before, after in ((first, again), (bought, again_bought)):
        assert after["replayed"] is True
        assert {k: v for k, v in after.items() if k != "replayed"} == {
            k: v for k, v in before.items() if k != "replayed"
        }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("month = 2024\n", "month must be a non-empty string"),
        ('month = "2024-06"\n', "needs [[metered]]"),
        (STATEMENT.replace('"2500.5"', '"-1"'), "not >= 0"),
        (STATEMENT.replace('"2500.5"', '"1.0000001"'), "Wh resolution"),
        (STATEMENT.replace("2024-06-01T00", "2024-06-02T00"), "not a contract period"),
        (STATEMENT + "x = 1\n", "unknown fields"),
        ("month = [", "not valid TOML"),
    ],
)
def test_a_bad_statement_is_one_line_and_writes_nothing(
    world: World, text: str, message: str
) -> None:
    add_contract_text(world.engine, CONTRACT)
    size, records = world.size(), world.records()
    with pytest.raises(InputFileError) as info:
        _settle(world, text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("june.toml: ")
    assert (world.size(), world.records()) == (size, records)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONTRACT.replace("energy_mwh = 3000", "energy_mwh = 0"), "energy_mwh must be > 0"),
        (CONTRACT.replace("2024-07-01T00:00:00+08:00", "2024-07-02T00:00:00+08:00"), "crosses"),
        (CONTRACT.replace('zone = "CN-GS"', 'zone = "XX"'), "XX"),
        (CONTRACT.replace('currency = "CNY"', 'currency = "yuan"'), "3-letter"),
        (CONTRACT.replace("[[period]]", "[[periods]]"), "unknown fields"),
        (CONTRACT.replace("+08:00\nend", "\nend"), "no UTC offset"),
    ],
)
def test_a_bad_contract_is_one_line_and_writes_nothing(
    world: World, text: str, message: str
) -> None:
    with pytest.raises(InputFileError) as info:
        add_contract_text(world.engine, text, "c.toml")
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert world.records() == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PURCHASE.replace("amount_mwh = 1000", "amount_mwh = 1.5"), "positive whole number"),
        (PURCHASE.replace("amount_mwh = 1000", "amount_mwh = 99999"), "holds 5000 MWh"),
        (PURCHASE.replace('"2024-06"', '"2024-6"'), "YYYY-MM"),
        (PURCHASE.replace('"2024-06"', '"2024-05"'), "holds 0 MWh"),
        (PURCHASE.replace('price_per_mwh = "4.20"', 'price_per_mwh = "x"'), "not a number"),
    ],
)
def test_a_bad_purchase_is_one_line_and_writes_nothing(
    world: World, text: str, message: str
) -> None:
    size = world.size()
    with pytest.raises(PowerdeskError) as info:
        buy_gecs(world.engine, world.store, text, "p.toml", _signer(world))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert (world.size(), world.records()) == (size, 0)


def test_monthly_issuance_carries_the_remainder_in_the_store(world: World) -> None:
    start, end = month_interval("2024-07")
    result = issue_month(
        world.store,
        world.registry,
        "GS-WIND-1",
        Scheme.CHINA_GEC,
        start,
        end,
        1_700_000,  # 1.7 MWh + 0.4 carried from June = 2.1 -> 2 GECs
        "hexi-wind",
        "GEC-GS-WIND-1-202407",
        datetime(2024, 8, 15, tzinfo=UTC),
        "gec:GS-WIND-1:2024-07",
    )
    assert result.changes is not None
    assert result.changes.bundles[0].energy_wh == 2 * MWH
    cell = world.store.cell("GS-WIND-1", start)
    assert cell is not None
    assert cell.carried_in_wh == 400_000
    assert Decimal(cell.metered_wh) == Decimal(1_700_000)


def test_a_physical_ppa_delivers_gecs_monthly_with_the_registry_code(world: World) -> None:
    from datetime import timedelta

    from engine.certificates.ppa_delivery import deliver_physical_ppa
    from ledger.ppa import PPA, MeteredInterval, Settlement, Volume

    start, end = month_interval("2024-06")
    ppa = PPA(
        ppa_id="ppa-gs",
        settlement=Settlement.PHYSICAL,
        volume=Volume.AS_PRODUCED,
        buyer="gansu-dc",
        counterparty="hexi-wind",
        zone="CN-GS",
        time_zone="Asia/Shanghai",
        currency="CNY",
        strike_per_mwh=Decimal("250"),
        start=start,
        end=end,
        devices=("GS-SOLAR-1",),
    )
    ensure_device(world.store, world.registry, "GS-SOLAR-1", 10_000_000, "solar", "CN-GS", AT)
    hours = [start + timedelta(hours=h) for h in range(30 * 24)]
    metered = [MeteredInterval(h, h + timedelta(hours=1), 700_000) for h in hours]  # 0.7 MWh
    kw = {"issuer": world.registry, "buyer": world.buyer, "site": "gansu-dc", "at": AT}
    with pytest.raises(ValueError, match="registry's code"):
        deliver_physical_ppa(world.store, ppa, metered, scheme=Scheme.CHINA_GEC, **kw)  # type: ignore[arg-type]
    delivered = deliver_physical_ppa(
        world.store,
        ppa,
        metered,
        scheme=Scheme.CHINA_GEC,
        external_code=lambda month: f"GEC-GS-SOLAR-1-{month:%Y%m}",
        **kw,  # type: ignore[arg-type]
    )
    # 720 h x 0.7 MWh = 504 MWh: one issuance of 504 GECs for the month, retired for the site.
    assert len(delivered) == 1
    assert delivered[0].certificate_wh == 504 * MWH
    bundle = world.store.bundle(delivered[0].bundle_id)
    assert (bundle.external_code, bundle.status, bundle.owner) == (
        "GEC-GS-SOLAR-1-202406",
        "retired",
        "gansu-dc",
    )
    size = world.size()
    again = deliver_physical_ppa(
        world.store,
        ppa,
        metered,
        scheme=Scheme.CHINA_GEC,
        external_code=lambda month: f"GEC-GS-SOLAR-1-{month:%Y%m}",
        **kw,  # type: ignore[arg-type]
    )
    assert world.size() == size
    assert again[0].bundle_id == delivered[0].bundle_id
