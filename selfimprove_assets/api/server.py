"""Run the API with uvicorn (``selfimprove serve``)."""

from __future__ import annotations

import logging

import uvicorn

from selfimprove_assets.api.app import create_app
from selfimprove_assets.api.config import ApiConfig
from selfimprove_assets.lib.settings import Settings, load_settings

logger = logging.getLogger(__name__)


def serve(
    settings: Settings | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    config: ApiConfig | None = None,
    log_level: str = "info",
) -> None:
    """Serve until interrupted. One worker process: the models are loaded once, in memory."""
    settings = settings or load_settings()
    settings.ensure_dirs()
    app = create_app(settings, config=config)
    logger.info("serving selfimprove API on http://%s:%d (docs at /docs)", host, port)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=True)
