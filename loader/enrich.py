"""Enrichment at load: user agent → browser, OS, device class, bot flag (maintained libraries only).

device_detector (a port of Matomo's Device Detector) classifies browsers, OSes and devices;
crawlerdetect (a port of JayBizzle's CrawlerDetect) recognises crawlers, scripts and headless
browsers that Matomo counts as "libraries". Results are cached per user-agent string.

A new agent costs ~15 ms to parse (crawlerdetect alone ~7 ms), a crafted long one far more: parsing is bounded by
the first ``max_chars`` characters of an agent and, within a load (:func:`parse_budget`), by a time budget. Agents
met after the budget is spent are stored ``unparsed``: device class unknown, and a bot only if a short list of
bot words (:data:`_BOT_WORDS`, written here because it must cost microseconds) finds one; they are not cached, so a
later load whose budget is not spent parses them when they come again.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
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
_BOT_WORDS = re.compile(
    r"bot|crawl|spider|slurp|scrap|headless|python|curl|wget|java/|go-http|okhttp|axios|node-fetch|httpclient"
    r"|phantomjs|selenium|puppeteer|playwright|lighthouse|monitor|^$",
    re.IGNORECASE,
)
MAX_AGENT_CHARS = 512  # real agents are shorter; a parse's cost grows with the length


@dataclass
class ParseBudget:
    """A load's allowance for parsing new agents: ``seconds``, plus ``seconds_per_event`` for each event enriched
    (a shop's real traffic brings a new agent every hundred events or so, ~0.15 ms an event; a storm of random
    agents one per event, ~15 ms), and what the load did with it."""

    seconds: float
    seconds_per_event: float
    max_chars: int = MAX_AGENT_CHARS
    events: int = 0
    spent: float = 0.0
    parsed: int = 0
    unparsed: int = 0  # events whose new agent came while the allowance was spent

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.seconds + self.seconds_per_event * self.events


_budget: ParseBudget | None = None  # None: outside a load, every agent is parsed
_warmed_up = False


@contextlib.contextmanager
def parse_budget(seconds: float, seconds_per_event: float, max_chars: int = MAX_AGENT_CHARS) -> Iterator[ParseBudget]:
    """Bound the parsing of new agents inside the block (one load, whose events are enriched on one thread)."""
    global _budget
    budget, previous = ParseBudget(seconds, seconds_per_event, max_chars), _budget
    _budget = budget
    try:
        yield budget
    finally:
        _budget = previous


def parse_user_agent(user_agent: str | None) -> dict[str, Any]:
    """``{browser, browserVersion, os, osVersion, deviceClass, isBot}`` for a User-Agent header, plus ``unparsed``
    when the load's budget was spent before this agent came."""
    if user_agent is not None and (known := _known.get(user_agent)) is not None:
        return known
    if not user_agent or not user_agent.strip():
        return _NO_AGENT
    with _parse_lock:  # one parse at a time: concurrent first calls would each compile every regex
        if (known := _known.get(user_agent)) is not None:
            return known
        budget = _budget
        if budget is not None and budget.exhausted:
            budget.unparsed += 1
            return _unparsed(user_agent[: budget.max_chars])
        global _warmed_up
        started = time.perf_counter()
        parsed = _parse_user_agent(user_agent[: budget.max_chars if budget else MAX_AGENT_CHARS])
        if budget is not None:
            if _warmed_up:  # a process's first parse also loads the parsers' regexes (seconds): not the agent's cost
                budget.spent += time.perf_counter() - started
            budget.parsed += 1
        _warmed_up = True
        _known[user_agent] = parsed
        if "\x00" not in user_agent:  # PostgreSQL's text cannot hold it: such an agent is parsed again instead
            _unsaved[user_agent] = parsed
        return parsed


def _unparsed(user_agent: str) -> dict[str, Any]:
    is_bot = _BOT_WORDS.search(user_agent) is not None
    return {"browser": None, "browserVersion": None, "os": None, "osVersion": None,
            "deviceClass": "bot" if is_bot else "unknown", "isBot": is_bot, "unparsed": True}  # fmt: skip


def enrichment(user_agent: Any) -> dict[str, Any]:
    """An event's ``_enriched`` block, from its ``_ingest.userAgent`` (anything but a string counts as none)."""
    if _budget is not None:
        _budget.events += 1
    return {"userAgent": parse_user_agent(user_agent if type(user_agent) is str else None)}


_members: dict[str | None, bytes] = {}
_MAX_MEMBERS = 65_536


def enrichment_member(user_agent: str | None) -> bytes:
    """``,"_enriched":{...}}``: :func:`enrichment` as the last member of an event's JSON text, once per agent."""
    member = _members.get(user_agent)
    if member is not None:
        if _budget is not None:
            _budget.events += 1
        return member
    block = enrichment(user_agent)
    member = b',"_enriched":' + orjson.dumps(block) + b"}"
    if not block["userAgent"].get("unparsed") and len(_members) < _MAX_MEMBERS:  # a later load may parse it
        _members[user_agent] = member
    return member


def remember(parsed: dict[str, dict[str, Any]]) -> None:
    """Seed the cache with user agents parsed before (by any process)."""
    _known.update(parsed)


def take_unsaved() -> list[tuple[str, dict[str, Any]]]:
    """User agents parsed since the last call, to store for the next processes."""
    with _parse_lock:
        items = list(_unsaved.items())
        _unsaved.clear()
    return items


_NO_AGENT = {"browser": None, "browserVersion": None, "os": None, "osVersion": None, "deviceClass": "unknown",
             "isBot": False}  # fmt: skip


def _is_crawler(user_agent: str) -> bool:
    global _crawler_detect
    if _crawler_detect is None:
        from crawlerdetect import CrawlerDetect

        _crawler_detect = CrawlerDetect()
    return bool(_crawler_detect.isCrawler(user_agent))


def _parse_user_agent(user_agent: str) -> dict[str, Any]:
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
