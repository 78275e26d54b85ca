"""User-agent enrichment: parsed once per agent in a process, and remembered in raw.user_agents for the next."""

from __future__ import annotations

from loader import enrich


def test_an_agent_with_a_nul_is_parsed_but_never_queued_for_the_warehouse() -> None:
    """PostgreSQL's text cannot hold a NUL: queued, it refused the next load's whole batch (and the process's later
    ones, since the queue outlives the batch)."""
    enrich.take_unsaved()
    crafted, plain = "Mozilla/5.0\x00 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
    assert enrich.parse_user_agent(crafted)["os"] == "GNU/Linux"
    assert enrich.parse_user_agent(plain)["browser"] == "Firefox"
    assert [agent for agent, _ in enrich.take_unsaved()] == [plain]
