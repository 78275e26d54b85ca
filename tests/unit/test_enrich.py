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


REAL = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"


def test_after_the_budget_new_agents_are_stored_unparsed_and_parsed_by_a_later_load() -> None:
    known = REAL.replace("131.0.0.0", "131.0.0.1")
    enrich.parse_user_agent(known)  # parsed before: the cache answers whatever the budget
    fresh, scraper = REAL.replace("131.0.0.0", "131.0.0.2"), "python-requests/2.32.3 (unit test)"
    with enrich.parse_budget(0, 0) as budget:
        assert enrich.enrichment(known)["userAgent"]["deviceClass"] == "mobile"
        assert enrich.enrichment(fresh)["userAgent"] == {
            "browser": None, "browserVersion": None, "os": None, "osVersion": None, "deviceClass": "unknown",
            "isBot": False, "unparsed": True,
        }  # fmt: skip
        assert b'"unparsed":true' in enrich.enrichment_member(fresh)
        assert enrich.parse_user_agent(scraper)["isBot"] is True, "a bot's word is still seen"
    assert (budget.events, budget.parsed, budget.unparsed) == (3, 0, 3)
    assert enrich.parse_user_agent(fresh)["browser"] == "Chrome Mobile", "not cached unparsed"
    assert b'"unparsed"' not in enrich.enrichment_member(fresh)


def test_the_allowance_grows_with_the_events_enriched() -> None:
    """Two seconds plus one second an event: the parse of each new agent fits, whatever the machine."""
    agents = [REAL.replace("131.0.0.0", f"131.1.0.{n}") for n in range(5)]
    with enrich.parse_budget(0, 1.0) as budget:
        assert all("unparsed" not in enrich.enrichment(agent)["userAgent"] for agent in agents)
    assert (budget.parsed, budget.unparsed, budget.events) == (5, 0, 5)


def test_a_crafted_long_agent_is_parsed_by_its_first_characters_in_bounded_time() -> None:
    long_agent = REAL.replace("131.0.0.0", "131.2.0.0") + " (" + "Windows NT 10.0; " * 3000 + ")"
    with enrich.parse_budget(60, 0, max_chars=512) as budget:
        assert enrich.parse_user_agent(long_agent)["browser"] == "Chrome Mobile"
    assert budget.parsed == 1 and budget.spent < 1, "a 50 kB agent costs what its first 512 characters cost"
