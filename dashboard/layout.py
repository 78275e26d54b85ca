"""Pieces every page's layout uses (card, tab, one-line summary, the page head), and the whole pages shown instead
of the dashboard: nothing built yet, the warehouse out of reach. No queries, no reactivity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from htmltools import HTMLDependency, Tag, tags
from shiny import module, ui
from shiny.types import NavSetArg

from dashboard.filters import Filters
from dashboard.formats import raw

CSS = """
.panel-note { font-size: .85rem; color: #6c757d; }
.data-table { max-height: 560px; overflow: auto; }
.data-table table { font-size: .88rem; margin-bottom: 0; }
.data-table thead th { position: sticky; top: 0; background: #fff; z-index: 1; }
.data-table td.num, .data-table th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.data-table tfoot td { font-weight: 600; border-top: 2px solid var(--bs-border-color); }
.page-empty { max-width: 60rem; }
"""


def head() -> HTMLDependency:
    """Page head additions: the shared stylesheet, and an inline favicon (no request for /favicon.ico)."""
    return ui.head_content(tags.link(rel="icon", href="data:,"), tags.style(CSS))


def stylesheet(css: str) -> HTMLDependency:
    """A page's own styles, put in the page head."""
    return ui.head_content(tags.style(css))


def tab(title: str, *body: Any) -> NavSetArg:
    """A page's tab in the navbar; its value (what ``input.tab`` and ``a.nav-link[data-value]`` name) is the page
    module's id."""
    return ui.nav_panel(title, *body, value=module.current_namespace())


def card(title: str, *body: Any, note: str | None = None) -> Tag:
    return ui.card(
        ui.card_header(title),
        *body,
        *([ui.p(note, class_="panel-note mb-0")] if note else []),
        full_screen=True,
    )


def kpi_card(
    element_id: str,
    label: str,
    help: str,
    text: str,
    value: Any,
    *,
    previous: Any = None,
    change: Any = None,
    change_text: str,
    tone: str = "flat",
    change_title: str | None = None,
) -> Tag:
    """A KPI card as every page draws it (styles: :data:`dashboard.overview.CSS`): the label (``help`` on hover), the
    value as ``text`` with its raw ``value``, ``previous`` and ``change`` in data attributes (``#<element_id>``),
    and a line under it (``#<element_id>_change``, coloured by ``tone``: good, bad or flat)."""
    return tags.div(
        tags.div(label, class_="kpi-label", title=help),
        tags.div(
            text,
            id=element_id,
            class_="kpi-value",
            data_value=raw(value),
            data_previous=raw(previous),
            data_change=raw(change),
        ),
        tags.div(change_text, id=f"{element_id}_change", class_=f"kpi-change {tone}", title=change_title),
        class_="kpi-card",
    )


def summary(element_id: str, filters: Filters, text: str, value: Any) -> Tag:
    """A one-line summary with a machine-readable value."""
    return tags.p(text, id=element_id, data_value=raw(value), data_filters=filters.key(), class_="panel-note")


def empty_warehouse_banner() -> Tag:
    return tags.div(
        tags.strong("The warehouse is empty. "),
        "The marts exist but hold no sessions yet: generate or collect traffic, then load and transform it (",
        tags.code("make demo"),
        ", or ",
        tags.code("clickstream load && clickstream transform"),
        "). Reload this page afterwards.",
        class_="alert alert-info mb-2",
        id="empty_warehouse",
    )


def message_page(element_id: str, title: str, *body: Any) -> Tag:
    """A whole page with a friendly message (nothing built yet, warehouse unreachable)."""
    return ui.page_fixed(
        head(),
        tags.div(
            tags.h2(title),
            *body,
            class_="mt-5 p-4 border rounded bg-light",
            id=element_id,
        ),
        title="Clickstream dashboard",
    )


def not_built_page(missing: Sequence[str], marts: Sequence[str]) -> Tag:
    """What to run when tables the dashboard needs are ``missing``: none of the ``marts`` (the pipeline never ran
    here), or only some (built by an older version of the pipeline, e.g. before the vocabulary's seeds)."""
    if set(marts) <= set(missing):
        what = tags.p("The warehouse has no marts: the pipeline has not run against it yet.")
    else:
        what = tags.p(
            "The warehouse lacks ",
            tags.code(", ".join(f"marts.{name}" for name in missing)),
            ": its marts were built by an older version of the pipeline (or a build stopped part-way).",
            id="not_built_missing",
        )
    return message_page(
        "not_built",
        "Nothing to show yet",
        what,
        tags.p(
            "Run ",
            tags.code("clickstream etl"),
            " to load what has been collected and build the marts, or ",
            tags.code("make demo"),
            " for the whole pipeline on synthetic traffic. Then reload this page.",
        ),
    )


def unreachable_page(detail: str) -> Tag:
    return message_page(
        "warehouse_unreachable",
        "The warehouse cannot be reached",
        tags.p("The dashboard could not query the warehouse:"),
        tags.pre(detail),
        tags.p("Check that it is running and that DW_URL (or DW_PG_*) points at it, then reload this page."),
    )


def data_table(headers: Sequence[tuple[Any, bool]], body: Sequence[Tag], extra_class: str | None = None) -> Tag:
    """The pages' striped table: ``headers`` as (label, is numeric) pairs, numeric ones right-aligned."""
    return tags.table(
        tags.thead(tags.tr(*(tags.th(label, class_="num" if numeric else None) for label, numeric in headers))),
        tags.tbody(*body),
        class_=" ".join(["table table-sm table-striped", *([extra_class] if extra_class else [])]),
    )
