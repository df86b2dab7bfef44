"""Request and response bodies of the trading-desk API (pydantic, units in field names).

Exact decimals (prices of curves, limits, money) travel as strings; instants are ISO 8601 with
a UTC offset (naive input is a 422); delivery days are local ``YYYY-MM-DD``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from engine.strategies.names import DEFAULT_SCENARIOS, StrategyName
from forecast.names import ModelName

T = TypeVar("T")

MIN_DAY = date(2000, 1, 1)
MAX_DAY = date(2100, 12, 31)


def _instant(value: datetime) -> datetime:
    if not 1970 <= value.year <= 2200:
        raise ValueError("instant must lie between 1970 and 2200")
    return value.astimezone(UTC)


Instant = Annotated[AwareDatetime, AfterValidator(_instant)]
"""A tz-aware instant (normalised to UTC); naive input is refused."""
Day = Annotated[date, Field(ge=MIN_DAY, le=MAX_DAY)]
"""A local delivery day."""
Name = Annotated[str, Field(min_length=1, max_length=200)]
Strategy = StrategyName
PriceModel = ModelName
"""A price model of the forecasting package (the one list of ``--model`` names)."""
Role = Literal["trader", "auditor", "admin"]


class Request(BaseModel):
    """Base of request bodies: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items``, the ``total`` matching, and where the next page starts."""

    items: list[T]
    total: int = Field(ge=0)
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


def next_offset(offset: int, limit: int, total: int) -> int | None:
    """Offset of the next page, or None on the last page."""
    return offset + limit if offset + limit < total else None


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]
    version: str


# -- market ---------------------------------------------------------------------------------------


class ProductOut(BaseModel):
    """A product of a zone."""

    key: str
    name: str
    direction: str
    payment: str
    block_minutes: int
    min_size_mw: str = Field(description="Exact decimal [MW].")
    activation_hours: float


class ResolutionOut(BaseModel):
    """The DA resolution in force from a delivery day on."""

    from_day: date
    minutes: int


class ZoneOut(BaseModel):
    """A market zone of the registry."""

    key: str
    name: str
    time_zone: str
    currency: str
    da_resolutions: list[ResolutionOut]
    gate_closure_local_d_minus_1: str = Field(description="HH:MM local time on D-1.")
    da_publication_local_d_minus_1: str
    price_floor_per_mwh: str
    price_cap_per_mwh: str
    tick_per_mwh: str
    minor_unit: str
    products: list[ProductOut]


class PricePointOut(BaseModel):
    """A price known at ``as_of``: ``price_per_mwh`` for energy, ``price_per_mw`` for reserve
    capacity (per MW per product interval)."""

    interval_start: datetime
    price_per_mwh: float | None = None
    price_per_mw: float | None = None


class PricesOut(Page[PricePointOut]):
    """The prices of one stored series as a decision at ``as_of`` sees them."""

    zone: str
    series: str
    unit: str
    as_of: datetime
    resolution_minutes: float
    source: str


# -- sites ----------------------------------------------------------------------------------------


class SiteIn(Request):
    """A site file's content (docs/site-file.md): TOML text, JSON text or a JSON object."""

    content: str | dict[str, Any] = Field(description="TOML or JSON text, or the JSON object.")
    format: Literal["toml", "json"] = "toml"
    replace: bool = Field(False, description="Overwrite a stored site of the same name.")


class SiteOut(BaseModel):
    """A stored site."""

    name: str
    zone: str
    content_format: str
    sha256: str
    created_at: datetime
    updated_at: datetime
    base_it_mw: float
    grid_import_max_mw: float
    jobs: list[str]
    battery_energy_mwh: float | None
    reserve_products: list[str]


class SiteDetail(SiteOut):
    """A stored site with its content as submitted."""

    content: str


_MODEL_HELP = (
    "Price model of the forecast and deterministic strategies (default: the zone's default "
    "model, chosen from the measured capture, docs/decision-quality.md)."
)


# -- bids -----------------------------------------------------------------------------------------


class BidOptions(Request):
    """How to build a delivery day's bid (a site's or a portfolio's)."""

    day: Day
    strategy: Strategy = StrategyName.FORECAST
    as_of: Instant | None = Field(
        None,
        description="Decision time (default: the zone's gate closure for the day; a portfolio's: "
        "the earliest of its zones'); only prices published before it are used. Hindsight needs "
        "strategy perfect-foresight.",
    )
    n_scenarios: int = Field(DEFAULT_SCENARIOS, ge=1, le=20)
    model: PriceModel | None = Field(None, description=_MODEL_HELP)
    offer_reserves: bool = True
    allow_breaches: bool = Field(False, description="Keep a plan whose soft constraints gave way.")
    seed: int = Field(0, ge=0, le=2**31 - 1)


class BidIn(BidOptions):
    """What to bid: a registered site and a delivery day."""

    site: Name


class CurveOut(BaseModel):
    """Monotone DA step curve of one interval (a buyer's bid)."""

    interval_start: datetime
    prices_per_mwh: list[str] = Field(description="Exact step prices, increasing.")
    quantities_mw: list[float] = Field(description="Quantities, non-increasing (negative: sale).")


class ReserveBidOut(BaseModel):
    """A capacity offer for one product and block."""

    product: str
    start: datetime
    end: datetime
    capacity_mw: float
    price_per_mw: str


class BlockBidOut(BaseModel):
    """A block bid of a non-preemptible job."""

    job: str
    start: datetime
    end: datetime
    quantity_mw: float
    limit_price_per_mwh: str


class BreachOut(BaseModel):
    """A soft constraint that gave way."""

    group: str
    name: str
    amount_mwh: float
    penalty_cost: float


class ProvenanceOut(BaseModel):
    """Where a bid came from."""

    inputs_as_of: datetime
    gate_closure: datetime
    perfect_information: bool
    price_sources: list[str]
    site_sha256: str
    code_version: str
    solver: str
    solver_version: str
    solver_status: str
    parameter_hash: str
    scenario_method: str
    n_scenarios: int


class SubmissionOut(BaseModel):
    """Whether the bid was handed to the exchange."""

    status: Literal["built", "submitted", "superseded"]
    submitted_at: datetime | None
    sha256: str | None


class BidSummary(BaseModel):
    """A stored bid without its curves and schedule."""

    id: int
    site: str
    zone: str
    day: date
    strategy: str
    currency: str
    expected_cost: str = Field(description="Expected cost of the plan [currency], exact.")
    objective: dict[str, float]
    breaches: list[BreachOut]
    provenance: ProvenanceOut
    submission: SubmissionOut
    created_at: datetime


class BidDetail(BidSummary):
    """A stored bid with its bid set and planned schedule."""

    curves: list[CurveOut]
    reserve_bids: list[ReserveBidOut]
    block_bids: list[BlockBidOut]
    schedule: list[dict[str, Any]] = Field(
        description="Per interval: interval_start, market_mw, grid_import_mw, ppa_mw, base_it_mw,"
        " pue, job_<name>_it_mw, battery_*_mw, battery_soc_end_mwh, reserve_<key>_mw."
    )


# -- backtests ------------------------------------------------------------------------------------


class BacktestIn(Request):
    """A backtest of a registered site over delivery days ``[start, end)``."""

    site: Name
    start: Day
    end: Day
    strategy: Strategy = StrategyName.FORECAST
    n_scenarios: int = Field(DEFAULT_SCENARIOS, ge=1, le=20)
    model: PriceModel | None = Field(None, description=_MODEL_HELP)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    regret: bool = Field(True, description="Also run perfect foresight and report the regret.")
    rt_stage: bool = Field(
        False,
        description="Add the real-time stage (needs stored imbalance prices): the summary's "
        "realtime_stage holds the DA+RT figures beside the DA-only ones (docs/realtime.md).",
    )
    rt_every_minutes: int = Field(
        0,
        ge=0,
        le=1440,
        description="With rt_stage: re-plan again every this many minutes while the day runs, "
        "with the real-time prices known by then (0: once, after the DA result). A whole "
        "number of the zone's DA intervals.",
    )


class BacktestOut(BaseModel):
    """A backtest run."""

    id: int
    status: Literal["queued", "running", "succeeded", "failed"]
    request: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class BacktestDayOut(BaseModel):
    """One delivery day of a backtest: money [currency] and energy [MWh] as exact decimals."""

    day: date
    energy_cost: str
    reserve_revenue: str
    imbalance_cost: str
    degradation_cost: str
    total_cost: str
    grid_energy_mwh: str


class BacktestSummaryOut(BaseModel):
    """``summary.json`` of ``powerdesk backtest`` (money [currency] and energy [MWh] exact;
    ``total_cost = energy_cost + imbalance_cost + degradation_cost - reserve_revenue``)."""

    model_config = ConfigDict(extra="allow")

    strategy: str
    days: int
    currency: str
    energy_cost: str
    reserve_revenue: str
    imbalance_cost: str
    degradation_cost: str
    total_cost: str
    grid_energy_mwh: str
    regret_vs_perfect_foresight: str | None


# -- ledger ---------------------------------------------------------------------------------------


class PpaIn(Request):
    """A PPA contract file's text (TOML)."""

    contract_toml: str = Field(min_length=1, max_length=262_144)


class ProfileBlockOut(BaseModel):
    """Contracted power by local hour (and month)."""

    hours: list[int]
    power_mw: str
    months: list[int]


class CollarOut(BaseModel):
    """Price collar of a virtual PPA."""

    floor_per_mwh: str
    cap_per_mwh: str


class PpaOut(BaseModel):
    """A stored PPA (exact decimals as strings)."""

    id: str
    kind: str
    settlement: str
    volume: str
    buyer: str
    counterparty: str
    zone: str
    currency: str
    strike_per_mwh: str
    start: datetime
    end: datetime
    devices: list[str]
    share: str
    baseload_mw: str | None = None
    profile: list[ProfileBlockOut] | None = None
    collar: CollarOut | None = None
    shortfall_price_per_mwh: str | None = None


class CertificateOut(BaseModel):
    """A certificate bundle (ids ``[id_start, id_end)``, one per Wh)."""

    bundle_id: str
    scheme: str
    device: str
    technology: str
    zone: str
    interval_start: datetime
    interval_end: datetime
    id_start: int
    id_end: int
    energy_wh: int
    owner: str
    issuer: str
    status: str
    expires_at: datetime | None
    external_code: str | None
    parent: str | None
    created_index: int
    updated_index: int
    beneficiary: str | None
    site: str | None
    consumption_start: datetime | None
    consumption_end: datetime | None
    consumption_zone: str | None
    retired_at: datetime | None


class EventIn(Request):
    """A client-signed ledger event: the exact log leaf, or the event JSON and its detached
    Ed25519 signature over the event's RFC 8785 canonical bytes."""

    leaf_b64: str | None = Field(None, max_length=1_000_000)
    event: dict[str, Any] | None = None
    signature_b64: str | None = Field(None, max_length=200)


class EventBatchIn(Request):
    """Client-signed ledger events, appended together or not at all."""

    leaves_b64: list[str] = Field(
        min_length=1, max_length=2000, description="Exact log leaves (base64), in order."
    )


class EventBatchItemOut(BaseModel):
    """One appended (or replayed) event of a batch."""

    index: int
    replayed: bool
    leaf_hash_hex: str


class EventBatchOut(BaseModel):
    """The events of a batch, in the order given."""

    events: list[EventBatchItemOut]


class EventOut(BaseModel):
    """The appended (or replayed) event."""

    index: int
    replayed: bool
    leaf_hash_hex: str
    kind: str | None
    certificates: list[CertificateOut]


class InclusionOut(BaseModel):
    """RFC 6962 inclusion proof of a leaf."""

    leaf_index: int
    tree_size: int
    leaf_hash_b64: str
    root_b64: str
    inclusion_proof_b64: list[str]


class ConsistencyOut(BaseModel):
    """RFC 6962 consistency proof between two tree sizes."""

    first: int
    second: int
    first_root_b64: str
    second_root_b64: str
    consistency_proof_b64: list[str]


class EntryOut(BaseModel):
    """A log leaf: exact bytes and the signed event they hold."""

    index: int
    leaf_b64: str
    event: dict[str, Any]


class EntriesOut(BaseModel):
    """A run of log leaves; ``next`` is the index to continue from (null at the end)."""

    items: list[EntryOut]
    tree_size: int
    next: int | None


# -- admin ----------------------------------------------------------------------------------------


class ApiKeyIn(Request):
    """A new API key."""

    role: Role
    name: str = Field("", max_length=200)


class ApiKeyOut(BaseModel):
    """A stored API key (never its secret)."""

    key_id: str
    role: Role
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    """A new API key with its token, shown only this once."""

    token: str


# -- settlement -----------------------------------------------------------------------------------


class SettlementIn(Request):
    """Settle a registered site's delivery day (its stored bid, prices, meter, reserves)."""

    site: Name
    day: Day
    force: bool = Field(False, description="Record a correction superseding the last run.")
    reason: str = Field("", max_length=500)


class SettlementOut(BaseModel):
    """A settlement run: money as exact decimal strings [currency], energies [MWh]."""

    site: str
    day: date
    run: int
    supersedes_run: int | None
    currency: str
    totals: dict[str, str]
    lines: list[dict[str, str]]
    provenance: dict[str, Any]
    created: bool = Field(description="False: an earlier run was returned unchanged.")


class JobRunOut(BaseModel):
    """One attempt of a scheduled job (``engine.scheduling.runs``)."""

    id: int
    job: str
    key: str
    attempt: int
    status: str = Field(description="claimed, running, succeeded, failed or abandoned")
    claimed_by: str = Field(description="host:pid:uuid of the process that claimed it")
    claimed_at: datetime
    heartbeat_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    forced: bool
    result: dict[str, Any] | None
    error: str | None


class LedgerKeyOut(BaseModel):
    """A key registered in the ledger (not an API key): who signs what, and its next sequence."""

    key_id: str
    party: str
    roles: list[str]
    valid_from: datetime
    valid_until: datetime | None
    public_key_b64: str = Field(description="Raw Ed25519 public key (32 bytes), base64.")
    last_seq: int = Field(description="Last sequence number this key signed (0: none yet).")
    next_seq: int = Field(description="The sequence number of this key's next event.")


class GreenContractIn(Request):
    """A green-electricity trading contract file's text (TOML, docs/green-power.md)."""

    contract_toml: str = Field(min_length=1, max_length=262_144)


class GreenPeriodOut(BaseModel):
    """Contracted energy and price of one contract period."""

    start: datetime
    end: datetime
    energy_mwh: str
    price_per_mwh: str


class GreenContractOut(BaseModel):
    """A green-electricity trading contract (绿电交易) with a named plant."""

    id: str
    buyer: str
    seller: str
    plant: str
    site: str
    zone: str
    currency: str
    periods: list[GreenPeriodOut]


class StatementIn(Request):
    """A monthly statement (TOML) and, to settle it, the client-signed events of its plan."""

    statement_toml: str = Field(min_length=1, max_length=262_144)
    leaves_b64: list[str] = Field(default_factory=list, max_length=2000)


class GecPurchaseIn(Request):
    """An unbundled GEC purchase (TOML) and, to execute it, the client-signed events of its
    plan."""

    purchase_toml: str = Field(min_length=1, max_length=262_144)
    leaves_b64: list[str] = Field(default_factory=list, max_length=2000)


class PlannedEventOut(BaseModel):
    """An event a party must sign: sign ``{"v":1,"kind","at","key_id","seq","idem","body"}``
    with this kind, body and idempotency key."""

    party: str
    kind: str
    body: dict[str, Any]
    idem: str


class GreenPlanOut(BaseModel):
    """What a statement or purchase settles and the events its parties sign."""

    result: dict[str, Any]
    events: list[PlannedEventOut]


class GreenRecordOut(BaseModel):
    """A settled statement or executed purchase: result, ledger indexes, retired bundles."""

    result: dict[str, Any]
    ledger_indexes: list[int]
    bundles: list[str]
    replayed: bool
