"""The shop's vocabulary, from the dbt seeds in schema ``marts`` (dbt_project/seeds/*.csv): which login states and
device classes the filters offer, how funnel steps and journey page types are named and coloured, how marketing
channels and RFM segments are named (and which scores make each segment).

Read once per app start (see :func:`dashboard.app.create_app`), through the dashboard's read-only pool; a seed
changed by a later dbt build shows after the dashboard restarts. The seeds are among the tables the dashboard needs
(:data:`SEEDS`, checked by :func:`dashboard.warehouse.state`): without them the app says what to run. A name a seed
does not list (a step or page type added to the models first) shows as it is, in the default colour.

The channel and RFM segment seeds (:data:`PAGE_SEEDS`) serve the Acquisition and Customers pages only: a warehouse
built before them still shows the other pages (those two say what to run), so they are read when they exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from dashboard.db import rows
from dashboard.filters import Filters

SEEDS = ("funnel_steps", "page_types", "login_states", "device_classes")
NOT_TRACKED = "Not tracked"
UNSEGMENTED = "unsegmented"  # dim_customers' segment when no rule of the seed holds
UNSEGMENTED_LABEL = "Unsegmented"
# Bots' sessions are quarantined by the models (no mart holds them): the device filter does not offer them.
NOT_SHOWN_DEVICES = ("bot",)
# Read when present (see the module's docstring).
PAGE_SEEDS = ("channels", "rfm_segments")


@dataclass(frozen=True)
class RfmSegment:
    """A named RFM segment: the recency and frequency-monetary score ranges that make it (both ends included)."""

    label: str
    r_min: int
    r_max: int
    fm_min: int
    fm_max: int

    def holds(self, r_score: int, fm_score: int) -> bool:
        return self.r_min <= r_score <= self.r_max and self.fm_min <= fm_score <= self.fm_max


@dataclass(frozen=True)
class PageType:
    label: str
    color: str | None  # None: the dashboard's default


@dataclass(frozen=True)
class Vocabulary:
    """Each mapping in its seed's order: funnel steps by step_order, the others as their CSV lists them."""

    login_states: Mapping[str, str]  # login state -> label: those the storefront sends (the filter's choices)
    device_classes: Mapping[str, str]  # device class -> label, bots excepted
    funnel_steps: Mapping[str, str]  # step_name -> label
    page_types: Mapping[str, PageType]  # a journey's step (page_type) -> label and colour
    channels: Mapping[str, str] = field(default_factory=dict)  # channel -> label
    rfm_segments: Mapping[str, RfmSegment] = field(default_factory=dict)  # segment -> label, scores; by priority

    def step_label(self, step_name: str) -> str:
        return self.funnel_steps.get(step_name, step_name)

    def page_label(self, page_type: str) -> str:
        known = self.page_types.get(page_type)
        return known.label if known else page_type

    def page_color(self, page_type: str) -> str | None:
        known = self.page_types.get(page_type)
        return known.color if known else None

    def channel_label(self, channel: str | None) -> str:
        """The channel's label (``None``: a session the tracker never saw, "Not tracked")."""
        if channel is None:
            return NOT_TRACKED
        return self.channels.get(channel, channel)

    def segment_label(self, segment: str) -> str:
        known = self.rfm_segments.get(segment)
        return known.label if known else UNSEGMENTED_LABEL if segment == UNSEGMENTED else segment

    def segment_at(self, r_score: int, fm_score: int) -> str:
        """The segment a recency score and frequency-monetary score make: the first by priority whose ranges hold
        (as dim_customers names them), else ``unsegmented``."""
        return next((name for name, s in self.rfm_segments.items() if s.holds(r_score, fm_score)), UNSEGMENTED)

    def check(self, filters: Filters) -> Filters:
        """``filters``, when its login state and device class are among the filters' choices."""
        if filters.login_state is not None and filters.login_state not in self.login_states:
            raise ValueError(
                f"login state must be one of {', '.join(self.login_states)} or None, got {filters.login_state!r}"
            )
        if filters.device_class is not None and filters.device_class not in self.device_classes:
            raise ValueError(
                f"device class must be one of {', '.join(self.device_classes)} or None, got {filters.device_class!r}"
            )
        return filters


def read(pool: ConnectionPool) -> Vocabulary:
    """The vocabulary in the warehouse's seeds (they must exist: see :func:`dashboard.warehouse.state`).

    A seed's CSV order is its rows' physical order (dbt seed loads them in file order into a table it has just
    created or truncated): ``order by ctid`` keeps it.
    """
    login_states = rows(
        pool, "select login_state, label from marts.login_states where is_sent_by_storefront order by ctid"
    )
    device_classes = rows(
        pool,
        "select device_class, label from marts.device_classes where device_class <> all(%s) order by ctid",
        (list(NOT_SHOWN_DEVICES),),
    )
    funnel_steps = rows(pool, "select step_name, label from marts.funnel_steps order by step_order")
    page_types = rows(pool, "select page_type, label, color from marts.page_types order by ctid")
    present = {
        row["name"]
        for row in rows(
            pool,
            "select name from unnest(%s::text[]) as seeds (name)"
            " where to_regclass('marts.' || quote_ident(name)) is not null",
            (list(PAGE_SEEDS),),
        )
    }
    channels = rows(pool, "select channel, label from marts.channels order by ctid") if "channels" in present else []
    segments = (
        rows(pool, "select segment, label, r_min, r_max, fm_min, fm_max from marts.rfm_segments order by priority")
        if "rfm_segments" in present
        else []
    )
    return Vocabulary(
        login_states={r["login_state"]: r["label"] or r["login_state"] for r in login_states},
        device_classes={r["device_class"]: r["label"] or r["device_class"] for r in device_classes},
        funnel_steps={r["step_name"]: r["label"] or r["step_name"] for r in funnel_steps},
        page_types={r["page_type"]: PageType(r["label"] or r["page_type"], r["color"] or None) for r in page_types},
        channels={r["channel"]: r["label"] or r["channel"] for r in channels},
        rfm_segments={
            r["segment"]: RfmSegment(
                r["label"] or r["segment"], int(r["r_min"]), int(r["r_max"]), int(r["fm_min"]), int(r["fm_max"])
            )
            for r in segments
        },
    )
