"""The Shiny dashboard over schema ``marts``.

One module per page, each holding its layout (``@module.ui``), its render functions (``@module.server``) and the
queries it runs: :mod:`~dashboard.overview`, :mod:`~dashboard.revenue`, :mod:`~dashboard.acquisition` (traffic
sources, attribution models, ROAS), :mod:`~dashboard.funnel`, :mod:`~dashboard.products`, :mod:`~dashboard.journeys`,
:mod:`~dashboard.retention`, :mod:`~dashboard.customers` (RFM segments, the visitors' weekly lifecycle),
:mod:`~dashboard.events`, :mod:`~dashboard.health` (data health), and the freshness line above them all, :mod:`~dashboard.freshness`.
:mod:`~dashboard.app` only assembles them around the sidebar's filters.

Shared by the pages: :mod:`~dashboard.filters` (the filters and the SQL that applies them), :mod:`~dashboard.db`
(the read-only pool and how a query runs on it), :mod:`~dashboard.vocabulary` (the shop's names, from the dbt
seeds), :mod:`~dashboard.warehouse` (what is built, which days have data), :mod:`~dashboard.charts` (plotly.js and
the common figure styling), :mod:`~dashboard.formats` (numbers and KPIs as text), :mod:`~dashboard.layout` (cards,
tabs, the pages shown instead of the dashboard). :mod:`~dashboard.serve` runs it under uvicorn.
"""
