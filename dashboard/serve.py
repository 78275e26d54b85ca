"""``clickstream dashboard``: the Shiny app under uvicorn, on a pool opened against the resolved warehouse."""

from __future__ import annotations

import logging

import uvicorn

from dashboard.app import create_app
from dashboard.db import open_pool
from loader.config import WarehouseSettings


def run(settings: WarehouseSettings, *, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve the dashboard until interrupted; a :class:`~loader.warehouse.WarehouseError` if the warehouse is out of
    reach at start."""
    logging.getLogger("shinywidgets").setLevel(logging.WARNING)
    pool = open_pool(settings)
    try:
        uvicorn.run(create_app(pool), host=host, port=port, log_level="warning", lifespan="on")
    finally:
        pool.close()
