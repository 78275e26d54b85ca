"""``clickstream dashboard``: the Shiny app under uvicorn, on a pool opened against the resolved warehouse."""

from __future__ import annotations

import uvicorn
from starlette.middleware.gzip import GZipMiddleware

from dashboard.app import create_app
from dashboard.db import open_pool
from loader.config import WarehouseSettings


def run(settings: WarehouseSettings, *, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve the dashboard until interrupted; a :class:`~loader.warehouse.WarehouseError` if the warehouse is out of
    reach at start."""
    pool = open_pool(settings)
    try:
        # gzip: plotly.js is 4.8 MB as served, 1.4 MB compressed (the dashboard may sit behind a tunnel)
        app = GZipMiddleware(create_app(pool), minimum_size=1024)
        uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
    finally:
        pool.close()
