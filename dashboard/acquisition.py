"""Acquisition: where the sessions come from and what they bring (fct_sessions by channel, source / medium and
campaign), and which channels the orders are credited to by each attribution model (attribution_paths,
attribution_channel_daily, attribution_campaign_daily), with the ad spend and its return where spend is imported.

The numbers come from :mod:`dashboard.acquisition_queries` (what the filters mean is said there).

The page needs the marts of :data:`TABLES` and fct_sessions' traffic source columns (:func:`state`, read at page
load): a warehouse built before them shows what to run, one without sessions says how to get traffic, and one with
sessions but no shop orders shows the traffic and, in place of the attribution, how to connect the shop database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from htmltools import Tag, TagList, tags
from plotly.subplots import make_subplots
from psycopg_pool import ConnectionPool
from shiny import Inputs, Outputs, Session, module, reactive, render, ui
from shiny.types import NavSetArg

from dashboard import charts, db, layout, warehouse
from dashboard.acquisition_queries import (
    KPI_NAMES,
    MODELS,
    NOT_SET,
    TABLES,
    State,
    attributed_orders,
    attribution,
    attribution_campaigns,
    kpis,
    return_on_spend,
    segmented,
    to_float,
    traffic,
)
from dashboard.filters import Filters
from dashboard.formats import change_text, decimal, kpi_text, number, rate, raw, roas, vnd, vnd_short
from dashboard.overview import CSS as KPI_CSS  # the KPI cards look alike on every page
from dashboard.vocabulary import Vocabulary

DEFAULT_MODEL = "last_non_direct"
MODEL_COLORS = {
    "first_touch": "#2c7be5",
    "last_touch": "#e67e22",
    "last_non_direct": "#27ae60",
    "linear": "#8e44ad",
    "position_based": "#16a085",
    "time_decay": "#c0392b",
    "markov": "#34495e",
}
BREAKDOWNS: dict[str, str] = {"channel": "Channel", "source_medium": "Source / medium", "campaign": "Campaign"}
KPI_LABELS = {
    "sessions": "Sessions",
    "conversion_rate": "Conversion rate",
    "orders": "Orders placed",
    "revenue": "Revenue",
    "ad_spend": "Ad spend",
}
KPI_HELP = {
    "sessions": "Sessions started in the range (their own login state and device).",
    "conversion_rate": "Share of the sessions with a purchase (checkout_complete).",
    "orders": "Shop orders these sessions placed.",
    "revenue": "Paid revenue (VND) of the shop orders these sessions placed.",
    "ad_spend": "Ad spend imported for the range's days (clickstream ad-spend import). All segments only.",
}
NEUTRAL_KPIS = frozenset({"ad_spend"})  # more spend is neither good nor bad news
SESSIONS_COLOR = charts.EVENTS_COLOR
RATE_COLOR = charts.CART_COLOR
REVENUE_COLOR = charts.SESSIONS_COLOR
CSS = """
#acquisition_kpis .kpi-grid { display: flex; flex-wrap: wrap; }
#acquisition_kpis .kpi-card { flex: 1 1 140px; min-width: max-content; }
.attribution-compare { table-layout: fixed; }
.attribution-compare th:first-child { width: 13%; }
.data-table .attribution-compare thead th.num { white-space: normal; vertical-align: bottom; }
.attribution-compare td.selected, .attribution-compare th.selected { background: #eef5ff; }
.attribution-compare td .sub { display: block; font-size: .78rem; color: #6c757d; }
.model-swatch { display: inline-block; width: .7rem; height: .7rem; border-radius: 2px; margin-right: .3rem; }
.acquisition-models .shiny-input-container { width: 100%; margin-bottom: .25rem; }
"""


# -- pieces ---------------------------------------------------------------------------------------
def empty_state(page_state: State) -> Tag:
    """Why there is nothing to show: marts from before attribution, or no session at all."""
    if page_state == "missing":
        what = tags.p(
            "The warehouse lacks the traffic sources and attribution (",
            tags.code(", ".join(f"marts.{name}" for name in TABLES[:3])),
            ", the channel of ",
            tags.code("marts.fct_sessions"),
            "): its marts were built by an older version of the pipeline. Run ",
            tags.code("clickstream etl"),
            " (or ",
            tags.code("clickstream transform"),
            ") to build them, then reload this page.",
        )
        title = "Acquisition needs newer marts"
    else:
        what = tags.p(
            "This page shows where the shop's visits come from (channels, sources, campaigns) and which of them the "
            "orders are credited to. There are no sessions yet: collect or generate traffic and build the marts (",
            tags.code("make demo"),
            ", or ",
            tags.code("clickstream load && clickstream transform"),
            "), then reload this page.",
            class_="mb-0",
        )
        title = "No traffic to show yet"
    return tags.div(
        tags.h5(title),
        what,
        class_="alert alert-info page-empty mt-2",
        id="acquisition_empty",
        data_state=page_state,
    )


def no_orders_state() -> Tag:
    """In place of the attribution when there are sessions but no shop orders."""
    return tags.div(
        tags.h5("No orders to attribute yet"),
        tags.p(
            "Attribution shares the shop's orders among the visits that led to them; the orders come from the "
            "shop's own database, which every ETL run copies once it is configured: set ",
            tags.code("SHOP_DB_URL"),
            " (or ",
            tags.code("SHOP_PG_HOST"),
            " and the other ",
            tags.code("SHOP_PG_*"),
            " variables), then run ",
            tags.code("clickstream etl"),
            ". Ad spend for ROAS: ",
            tags.code("clickstream ad-spend import"),
            ".",
            class_="mb-0",
        ),
        class_="alert alert-info page-empty mt-2",
        id="attribution_empty",
    )


def _change_label(name: str, change: float | None, segment: bool) -> str:
    if segment and name == "ad_spend":
        return "all segments only"
    return change_text(name, change)


def kpi_cards(data: Mapping[str, Mapping[str, Any]], filters: Filters, first_date: date | None = None) -> Tag:
    """One card per KPI, with the change against the previous period of equal length (noted when that period
    starts before the first session, ``first_date``)."""
    previous = filters.previous()
    partial = first_date is not None and previous.start < first_date <= previous.end
    segment = segmented(filters)
    cards = []
    for name in KPI_NAMES:
        value, before, change = data["current"][name], data["previous"][name], data["change"][name]
        if change is None or abs(change) < 1e-12 or name in NEUTRAL_KPIS:
            tone = "flat"
        else:
            tone = "good" if change > 0 else "bad"
        cards.append(
            layout.kpi_card(
                f"acquisition_kpi_{name}",
                KPI_LABELS[name],
                KPI_HELP[name],
                kpi_text(name, value),
                value,
                previous=before,
                change=change,
                change_text=_change_label(name, change, segment),
                tone=tone,
                change_title=f"{previous.start} to {previous.end}: {kpi_text(name, before)}",
            )
        )
    return tags.div(
        tags.div(*cards, class_="kpi-grid"),
        tags.p(
            f"Sessions started {filters.start} to {filters.end} (UTC, {filters.days} days), compared with "
            f"{previous.start} to {previous.end}"
            + (f", which has data only from {first_date}: changes compare with a partial period." if partial else "."),
            id="acquisition_kpi_period",
            class_="panel-note mt-2 mb-0",
            data_partial="true" if partial else "false",
        ),
        id="acquisition_kpis",
        data_filters=filters.key(),
    )


def scope_note(filters: Filters) -> Tag:
    """How the segment applies on this page."""
    if segmented(filters):
        text = (
            "Sessions in their own login state and device class; attribution counts only the credit of the touches "
            "(sessions) in that segment, so each model's totals are the part of the orders those sessions earned. "
            "Ad spend has no segment: spend and ROAS show with both filters on All."
        )
    else:
        text = (
            "Sessions by the UTC day they started and their own traffic source; revenue is the paid revenue of the "
            "orders they placed. Attribution counts orders by the UTC day they were placed."
        )
    return tags.p(
        text,
        id="acquisition_scope",
        class_="panel-note",
        data_filters=filters.key(),
        data_segmented="true" if segmented(filters) else "false",
    )


def _labels(keys: pd.Series, by: str, vocabulary: Vocabulary) -> list[str]:
    if by == "channel":
        return [vocabulary.channel_label(k) for k in keys]
    return [k if isinstance(k, str) else NOT_SET for k in keys]


def channels_figure(frame: pd.DataFrame, key: str, vocabulary: Vocabulary) -> go.Figure:
    """Sessions, conversion rate and paid revenue per channel: three panels of bars side by side sharing the channel
    axis, most sessions on top."""
    if frame.empty or frame["sessions"].sum() == 0:
        return charts.empty(key, "No sessions for these filters")
    shown = frame.iloc[::-1]  # plotly draws the first bar at the bottom
    labels = _labels(shown["key"], "channel", vocabulary)
    figure = make_subplots(
        rows=1,
        cols=3,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=("Sessions", "Conversion rate", "Paid revenue"),
    )
    hover = [
        f"{number(s)} sessions ({rate(share)} of all)<br>{number(c)} with a purchase ({rate(r)})"
        f"<br>{number(o)} orders, {vnd(v)}"
        for s, share, c, r, o, v in zip(
            shown["sessions"],
            shown["share"],
            shown["converted_sessions"],
            shown["conversion_rate"],
            shown["orders"],
            shown["revenue"],
            strict=True,
        )
    ]
    panels = (
        ("sessions", SESSIONS_COLOR, [number(v) for v in shown["sessions"]]),
        ("conversion_rate", RATE_COLOR, [rate(v) for v in shown["conversion_rate"]]),
        ("revenue", REVENUE_COLOR, [vnd_short(v) for v in shown["revenue"]]),
    )
    for column, (name, color, text) in enumerate(panels, start=1):
        figure.add_trace(
            go.Bar(
                y=labels,
                x=charts.values(shown[name]),
                orientation="h",
                marker_color=color,
                text=text,
                textposition="outside",
                cliponaxis=False,
                customdata=hover,
                hovertemplate="%{y}<br>%{customdata}<extra></extra>",
                name=name,
                showlegend=False,
            ),
            row=1,
            col=column,
        )
    top_sessions = float(frame["sessions"].max())
    figure.update_xaxes(range=[0, top_sessions * 1.25], tickformat=",d", row=1, col=1)
    figure.update_xaxes(
        range=[0, max(0.05, float(frame["conversion_rate"].max()) * 1.3)], tickformat=".0%", row=1, col=2
    )
    figure.update_xaxes(**charts.money_axis(float(frame["revenue"].max()) * 1.3, ticks=3), row=1, col=3)
    figure.update_yaxes(type="category")
    figure.update_annotations(font={"size": 12, "color": "#495057"})
    charts.style(figure, key, height=max(260, 34 * len(labels) + 90), separators=",.")
    return figure.update_layout(margin={"r": 30, "t": 40})


def traffic_table(frame: pd.DataFrame, filters: Filters, by: str, vocabulary: Vocabulary) -> Tag:
    """Sessions by channel, source / medium or campaign (:func:`traffic`): each row its raw values."""
    headers: list[tuple[str, bool]] = [("#", True), (BREAKDOWNS.get(by, by), False)]
    if by != "channel":
        headers.append(("Channel", False))
    headers += [("Sessions", True), ("Share", True), ("Conv. rate", True), ("Orders", True), ("Revenue", True),
                ("Revenue / session", True)]  # fmt: skip
    if frame.empty:
        body: list[Tag] = [
            tags.tr(tags.td("No sessions for these filters", colspan=str(len(headers)), class_="text-muted"))
        ]
    else:
        labels = _labels(frame["key"], by, vocabulary)
        body = []
        for position, (row, label) in enumerate(zip(frame.itertuples(index=False), labels, strict=True), start=1):
            cells = [tags.td(str(position), class_="num text-muted"), tags.td(label)]
            if by != "channel":
                cells.append(tags.td(", ".join(vocabulary.channel_label(c) for c in row.channels)))
            cells += [
                tags.td(number(row.sessions), class_="num"),
                tags.td(rate(row.share), class_="num"),
                tags.td(rate(row.conversion_rate), class_="num"),
                tags.td(number(row.orders), class_="num"),
                tags.td(vnd(row.revenue), class_="num"),
                tags.td(vnd(row.revenue_per_session), class_="num"),
            ]
            body.append(
                tags.tr(
                    *cells,
                    data_key=row.key if isinstance(row.key, str) else "",
                    data_sessions=raw(int(row.sessions)),
                    data_converted=raw(int(row.converted_sessions)),
                    data_orders=raw(int(row.orders)),
                    data_revenue=raw(float(row.revenue)),
                )
            )
    return tags.div(
        tags.div(
            layout.data_table(headers, body),
            class_="data-table",
        ),
        id="acquisition_traffic",
        data_filters=filters.key(),
        data_by=by,
        data_rows=str(len(frame)),
    )


def _model_rows(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    return frame[frame["model"] == model]


def model_figure(frame: pd.DataFrame, key: str, model: str, vocabulary: Vocabulary) -> go.Figure:
    """Revenue ``model`` attributes to each channel: horizontal bars, largest on top, conversions in the hover."""
    rows = _model_rows(frame, model)
    if rows.empty or rows["attributed_conversions"].sum() == 0:
        return charts.empty(key, "No attributed orders for these filters")
    shown = rows.iloc[::-1]
    labels = [vocabulary.channel_label(c) for c in shown["channel"]]
    hover = [
        f"{vnd(v)}<br>{decimal(c, 2)} orders credited"
        for v, c in zip(shown["attributed_revenue"], shown["attributed_conversions"], strict=True)
    ]
    figure = go.Figure(
        go.Bar(
            y=labels,
            x=charts.values(shown["attributed_revenue"]),
            orientation="h",
            marker_color=MODEL_COLORS[model],
            text=[vnd_short(v) for v in shown["attributed_revenue"]],
            textposition="outside",
            cliponaxis=False,
            customdata=hover,
            hovertemplate="%{y}: %{customdata}<extra></extra>",
            name=MODELS[model],
        )
    )
    figure.update_xaxes(**charts.money_axis(float(rows["attributed_revenue"].max()) * 1.22, ticks=4))
    figure.update_yaxes(type="category")
    charts.style(
        figure,
        key,
        height=max(240, 34 * len(labels) + 80),
        showlegend=False,
        separators=",.",
        title={"text": f"Attributed revenue · {MODELS[model]}", "font": {"size": 13}, "x": 0, "xanchor": "left"},
    )
    return figure.update_layout(meta={"filters": key, "model": model}, margin={"t": 40})


def model_table(frame: pd.DataFrame, filters: Filters, model: str, vocabulary: Vocabulary) -> Tag:
    """``model``'s credit per channel with spend and ROAS (``–`` where there is none, and under a segment)."""
    rows = _model_rows(frame, model)
    headers = (("Channel", False), ("Conversions", True), ("Revenue", True), ("Spend", True), ("ROAS", True))
    body: list[Tag] = [
        tags.tr(
            tags.td(vocabulary.channel_label(row.channel)),
            tags.td(decimal(row.attributed_conversions), class_="num"),
            tags.td(vnd(row.attributed_revenue), class_="num"),
            tags.td(vnd(row.spend), class_="num"),
            tags.td(roas(row.roas), class_="num"),
            data_channel=row.channel,
            data_conversions=raw(float(row.attributed_conversions)),
            data_revenue=raw(float(row.attributed_revenue)),
            data_spend=raw(to_float(row.spend)),
            data_roas=raw(to_float(row.roas)),
        )
        for row in rows.itertuples(index=False)
    ]
    if not body:
        body = [tags.tr(tags.td("No attributed orders for these filters", colspan="5", class_="text-muted"))]
    paid = rows[[to_float(v) is not None for v in rows["spend"]]]
    footer = []
    if len(paid):  # the return on all the spend: the channels with spend together
        spend = float(paid["spend"].sum())
        paid_revenue = float(paid["attributed_revenue"].sum())
        paid_conversions = float(paid["attributed_conversions"].sum())
        footer.append(
            tags.tr(
                tags.td("Channels with spend"),
                tags.td(decimal(paid_conversions), class_="num"),
                tags.td(vnd(paid_revenue), class_="num"),
                tags.td(vnd(spend), class_="num"),
                tags.td(roas(return_on_spend(paid_revenue, spend)), class_="num"),
                id="attribution_paid_channels",
                data_conversions=raw(paid_conversions),
                data_revenue=raw(paid_revenue),
                data_spend=raw(spend),
                data_roas=raw(return_on_spend(paid_revenue, spend)),
            )
        )
    conversions, revenue = float(rows["attributed_conversions"].sum()), float(rows["attributed_revenue"].sum())
    footer.append(
        tags.tr(
            tags.td("All channels"),
            tags.td(decimal(conversions), class_="num"),
            tags.td(vnd(revenue), class_="num"),
            tags.td(),
            tags.td(),
            id="attribution_all_channels",
            data_conversions=raw(conversions),
            data_revenue=raw(revenue),
        )
    )
    return tags.div(
        tags.div(
            tags.table(
                tags.thead(tags.tr(*(tags.th(h, class_="num" if n else None) for h, n in headers))),
                tags.tbody(*body),
                tags.tfoot(*footer),
                class_="table table-sm table-striped",
            ),
            class_="data-table",
        ),
        id="attribution_channels",
        data_filters=filters.key(),
        data_model=model,
    )


def models_figure(frame: pd.DataFrame, key: str, selected: str, vocabulary: Vocabulary) -> go.Figure:
    """Every model's attributed revenue per channel, side by side (grouped bars, channels by the selected model's
    revenue); the selected model stands out, the others are paler."""
    if frame.empty or frame["attributed_conversions"].sum() == 0:
        return charts.empty(key, "No attributed orders for these filters")
    order = list(_model_rows(frame, selected)["channel"])
    labels = [vocabulary.channel_label(c) for c in order]
    figure = go.Figure()
    for model, name in MODELS.items():
        rows = _model_rows(frame, model).set_index("channel").reindex(order)
        figure.add_trace(
            go.Bar(
                x=labels,
                y=charts.values(rows["attributed_revenue"]),
                name=name,
                marker={"color": MODEL_COLORS[model], "opacity": 1.0 if model == selected else 0.38},
                customdata=[
                    f"{vnd(v)}, {decimal(c, 2)} orders"
                    for v, c in zip(rows["attributed_revenue"], rows["attributed_conversions"], strict=True)
                ],
                hovertemplate=f"{name}: %{{customdata}}<extra></extra>",
            )
        )
    figure.update_yaxes(**charts.money_axis(float(frame["attributed_revenue"].max())), title_text="attributed revenue")
    figure.update_xaxes(type="category")
    charts.style(
        figure,
        key,
        height=400,
        barmode="group",
        bargap=0.18,
        bargroupgap=0.04,
        legend={"orientation": "h", "y": 1.14, "x": 0},
        hovermode="x unified",
        separators=",.",
    )
    return figure.update_layout(meta={"filters": key, "model": selected})


def models_table(frame: pd.DataFrame, filters: Filters, selected: str, vocabulary: Vocabulary) -> Tag:
    """Channels × models: each cell the model's attributed revenue and conversions for the channel; the last row
    each model's totals. Channels by the selected model's revenue; its column highlighted."""
    order = list(_model_rows(frame, selected)["channel"])
    by_cell = {(r.model, r.channel): r for r in frame.itertuples(index=False)}

    def cell(model: str, channel: str) -> Tag:
        row = by_cell[(model, channel)]
        return tags.td(
            tags.span(vnd_short(row.attributed_revenue), title=vnd(row.attributed_revenue)),
            tags.span(f"{decimal(row.attributed_conversions)} orders", class_="sub"),
            class_="num selected" if model == selected else "num",
            data_model=model,
            data_revenue=raw(float(row.attributed_revenue)),
            data_conversions=raw(float(row.attributed_conversions)),
        )

    body: list[Tag] = [
        tags.tr(tags.td(vocabulary.channel_label(channel)), *(cell(m, channel) for m in MODELS), data_channel=channel)
        for channel in order
    ]
    if not body:
        body = [
            tags.tr(
                tags.td("No attributed orders for these filters", colspan=str(len(MODELS) + 1), class_="text-muted")
            )
        ]
    totals = []
    for model in MODELS:
        rows = _model_rows(frame, model)
        revenue, conversions = float(rows["attributed_revenue"].sum()), float(rows["attributed_conversions"].sum())
        totals.append(
            tags.td(
                tags.span(vnd_short(revenue), title=vnd(revenue)),
                tags.span(f"{decimal(conversions)} orders", class_="sub"),
                class_="num selected" if model == selected else "num",
                data_model=model,
                data_revenue=raw(revenue),
                data_conversions=raw(conversions),
            )
        )
    head = [tags.th("Channel")] + [
        tags.th(
            tags.span(class_="model-swatch", style=f"background: {MODEL_COLORS[m]}"),
            name,
            class_="num selected" if m == selected else "num",
        )
        for m, name in MODELS.items()
    ]
    return tags.div(
        tags.div(
            tags.table(
                tags.thead(tags.tr(*head)),
                tags.tbody(*body),
                tags.tfoot(tags.tr(tags.td("All channels"), *totals, class_="totals")),
                class_="table table-sm attribution-compare",
            ),
            class_="data-table",
        ),
        id="attribution_compare",
        data_filters=filters.key(),
        data_model=selected,
    )


def campaigns_table(frame: pd.DataFrame, filters: Filters, model: str, vocabulary: Vocabulary) -> Tag:
    """``model``'s credit per campaign (:func:`attribution_campaigns`), with spend and ROAS where imported."""
    headers = (("Campaign", False), ("Channel", False), ("Conversions", True), ("Revenue", True), ("Spend", True),
               ("ROAS", True))  # fmt: skip
    body: list[Tag] = [
        tags.tr(
            tags.td(row.campaign),
            tags.td(vocabulary.channel_label(row.channel)),
            tags.td(decimal(row.attributed_conversions), class_="num"),
            tags.td(vnd(row.attributed_revenue), class_="num"),
            tags.td(vnd(row.spend), class_="num"),
            tags.td(roas(row.roas), class_="num"),
            data_channel=row.channel,
            data_campaign=row.campaign,
            data_conversions=raw(float(row.attributed_conversions)),
            data_revenue=raw(float(row.attributed_revenue)),
            data_spend=raw(to_float(row.spend)),
            data_roas=raw(to_float(row.roas)),
        )
        for row in frame.itertuples(index=False)
    ]
    if not body:
        body = [tags.tr(tags.td("No attributed orders for these filters", colspan="6", class_="text-muted"))]
    return tags.div(
        tags.div(
            layout.data_table(headers, body),
            class_="data-table",
        ),
        id="attribution_campaigns",
        data_filters=filters.key(),
        data_model=model,
        data_rows=str(len(frame)),
    )


def attribution_summary(data: Mapping[str, Any], filters: Filters) -> Tag:
    """How many of the range's orders the models share (:func:`attributed_orders`)."""
    orders, attributed, revenue = data["orders"], data["attributed_orders"], data["attributed_revenue"]
    if segmented(filters):
        text = (
            f"{number(attributed)} of the {number(orders)} orders placed in the range had a touch in this segment; "
            "each model counts only the credit of those touches (sessions), not the whole orders' "
            f"{vnd(revenue)}."
        )
    else:
        text = (
            f"{number(attributed)} of the {number(orders)} orders placed in the range had a touch (a session of the "
            f"customer in the attribution window before it): every model shares their {vnd(revenue)} paid revenue "
            f"among their touches. {number(orders - attributed)} without a touch are not attributed."
        )
    return tags.p(
        text,
        id="attribution_summary",
        class_="panel-note",
        data_filters=filters.key(),
        data_orders=raw(orders),
        data_attributed_orders=raw(attributed),
        data_attributed_revenue=raw(revenue),
    )


# -- the page -------------------------------------------------------------------------------------
@module.ui
def panel(page_state: State = "ready") -> NavSetArg:
    """The page; ``page_state`` (:func:`state`, read at page load) replaces it with :func:`empty_state` when there
    are no sessions (or no marts to read), and the attribution with :func:`no_orders_state` without orders."""
    if page_state in ("missing", "empty"):
        return layout.tab("Acquisition", empty_state(page_state))
    if page_state == "no_orders":
        attribution_cards: list[Any] = [no_orders_state()]
    else:
        attribution_cards = [
            layout.card(
                "Attribution by channel",
                ui.div(
                    ui.input_radio_buttons("model", "Attribution model", MODELS, selected=DEFAULT_MODEL, inline=True),
                    class_="acquisition-models",
                ),
                ui.output_ui("attribution_note"),
                ui.layout_columns(
                    ui.output_ui("model_chart"),
                    ui.output_ui("model_numbers"),
                    col_widths=(6, 6),
                ),
                note="Orders by the UTC day they were placed. First / last touch: all to the first / last session; "
                "last non-direct: to the last that was not direct; linear: equal parts; position-based: 40 % first, "
                "40 % last, 20 % shared by those between; time decay: halving every half-life before the order; "
                "data-driven: by each channel's removal effect in a Markov chain of all paths. ROAS: attributed "
                "revenue ÷ ad spend over the range, where spend is imported (– where not).",
            ),
            layout.card(
                "Models side by side",
                ui.output_ui("models_chart"),
                ui.output_ui("models_numbers"),
                note="Each model's attributed revenue (and orders credited, in parts) per channel; the selected model "
                "is highlighted. Without a segment every model's total is the paid revenue of the orders with a "
                "touch.",
            ),
            layout.card(
                "Campaigns",
                ui.output_ui("campaigns"),
                note="The selected model's credit by the touch's campaign (utm_campaign; (not set) without one) "
                "within its channel; spend and ROAS where the campaign's spend is imported.",
            ),
        ]
    return layout.tab(
        "Acquisition",
        layout.stylesheet(KPI_CSS),
        layout.stylesheet(CSS),
        ui.output_ui("cards"),
        ui.output_ui("scope"),
        layout.card(
            "Channels",
            ui.output_ui("channels"),
            note="Sessions started in the range by the channel of their traffic source (GA4-style groups, seed "
            "channel_rules); conversion rate: sessions with a purchase ÷ sessions; paid revenue of the orders they "
            "placed.",
        ),
        layout.card(
            "Sources and campaigns",
            ui.input_radio_buttons("by", "Group by", BREAKDOWNS, selected="channel", inline=True),
            ui.output_ui("traffic_numbers"),
            note="The session's own source / medium and campaign (from its landing page's UTM tags, an ad click id "
            "or its referrer), by sessions.",
        ),
        *attribution_cards,
    )


@module.server
def server(
    input: Inputs,
    output: Outputs,
    session: Session,
    filters: Callable[[], Filters],
    pool: ConnectionPool,
    vocabulary: Vocabulary,
) -> None:
    credits = db.on_filters(attribution, pool, filters)

    @reactive.calc
    async def channel_traffic() -> pd.DataFrame:
        return await asyncio.to_thread(traffic, pool, filters(), "channel")

    def chosen_model() -> str:
        model = input.model()
        return model if model in MODELS else DEFAULT_MODEL

    @render.ui
    async def cards() -> Tag:
        f = filters()
        data = await asyncio.to_thread(kpis, pool, f)
        bounds = await asyncio.to_thread(warehouse.data_bounds, pool)
        return kpi_cards(data, f, first_date=bounds["first_date"])

    @render.ui
    def scope() -> Tag:
        return scope_note(filters())

    @render.ui
    async def channels() -> TagList:
        f = filters()
        return charts.html(channels_figure(await channel_traffic(), f.key(), vocabulary), "acquisition_channels_plot")

    @render.ui
    async def traffic_numbers() -> Tag:
        f, by = filters(), input.by()
        frame = await channel_traffic() if by == "channel" else await asyncio.to_thread(traffic, pool, f, by)
        return traffic_table(frame, f, by, vocabulary)

    @render.ui
    async def attribution_note() -> Tag:
        f = filters()
        return attribution_summary(await asyncio.to_thread(attributed_orders, pool, f), f)

    @render.ui
    async def model_chart() -> TagList:
        f, model = filters(), chosen_model()
        return charts.html(model_figure(await credits(), f.key(), model, vocabulary), "attribution_model_plot")

    @render.ui
    async def model_numbers() -> Tag:
        f, model = filters(), chosen_model()
        return model_table(await credits(), f, model, vocabulary)

    @render.ui
    async def models_chart() -> TagList:
        f, model = filters(), chosen_model()
        return charts.html(models_figure(await credits(), f.key(), model, vocabulary), "attribution_models_plot")

    @render.ui
    async def models_numbers() -> Tag:
        f, model = filters(), chosen_model()
        return models_table(await credits(), f, model, vocabulary)

    @render.ui
    async def campaigns() -> Tag:
        f, model = filters(), chosen_model()
        return campaigns_table(await asyncio.to_thread(attribution_campaigns, pool, f, model), f, model, vocabulary)
