"""Enrichment at load: user agent → browser, OS, device class, bot flag (maintained libraries only).

device_detector (a port of Matomo's Device Detector) classifies browsers, OSes and devices;
crawlerdetect (a port of JayBizzle's CrawlerDetect) recognises crawlers, scripts and headless
browsers that Matomo counts as "libraries". Results are cached per user-agent string.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import orjson

_DEVICE_CLASSES = {
    "desktop": "desktop",
    "smartphone": "mobile",
    "feature phone": "mobile",
    "phablet": "mobile",
    "tablet": "tablet",
}
_parse_lock = threading.Lock()
_crawler_detect: Any = None
_known: dict[str, dict[str, Any]] = {}  # preloaded from raw.user_agents
_unsaved: dict[str, dict[str, Any]] = {}  # parsed in this process, not yet stored


def _is_crawler(user_agent: str) -> bool:
    global _crawler_detect
    if _crawler_detect is None:
        from crawlerdetect import CrawlerDetect

        _crawler_detect = CrawlerDetect()
    return bool(_crawler_detect.isCrawler(user_agent))


def parse_user_agent(user_agent: str | None) -> dict[str, Any]:
    """``{browser, browserVersion, os, osVersion, deviceClass, isBot}`` for a User-Agent header."""
    if user_agent is not None and (known := _known.get(user_agent)) is not None:
        return known
    with _parse_lock:  # one parse at a time: concurrent first calls would each compile every regex
        parsed = _parse_user_agent(user_agent)
        if user_agent:
            _known[user_agent] = parsed
            if "\x00" not in user_agent:  # PostgreSQL's text cannot hold it: such an agent is parsed again instead
                _unsaved[user_agent] = parsed
        return parsed


def enrichment(user_agent: Any) -> dict[str, Any]:
    """An event's ``_enriched`` block, from its ``_ingest.userAgent`` (anything but a string counts as none)."""
    return {"userAgent": parse_user_agent(user_agent if type(user_agent) is str else None)}


@lru_cache(maxsize=65_536)
def enrichment_member(user_agent: str | None) -> bytes:
    """``,"_enriched":{...}}``: :func:`enrichment` as the last member of an event's JSON text, once per agent."""
    return b',"_enriched":' + orjson.dumps(enrichment(user_agent)) + b"}"


def remember(parsed: dict[str, dict[str, Any]]) -> None:
    """Seed the cache with user agents parsed before (by any process)."""
    _known.update(parsed)


def take_unsaved() -> list[tuple[str, dict[str, Any]]]:
    """User agents parsed since the last call, to store for the next processes."""
    with _parse_lock:
        items = list(_unsaved.items())
        _unsaved.clear()
    return items


@lru_cache(maxsize=20_000)
def _parse_user_agent(user_agent: str | None) -> dict[str, Any]:
    if not user_agent or not user_agent.strip():
        return {
            "browser": None,
            "browserVersion": None,
            "os": None,
            "osVersion": None,
            "deviceClass": "unknown",
            "isBot": False,
        }
    from device_detector import DeviceDetector

    parsed = DeviceDetector(user_agent).parse()
    is_bot = bool(parsed.is_bot()) or str(parsed.client_type() or "") == "library" or _is_crawler(user_agent)
    device = str(parsed.device_type() or "")
    return {
        "browser": parsed.client_name() or None,
        "browserVersion": parsed.client_version() or None,
        "os": parsed.os_name() or None,
        "osVersion": parsed.os_version() or None,
        "deviceClass": "bot" if is_bot else _DEVICE_CLASSES.get(device, "other" if device else "unknown"),
        "isBot": is_bot,
    }
