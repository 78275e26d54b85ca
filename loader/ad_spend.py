"""Ad spend from a CSV file → ``raw.ad_spend``: what the attribution marts divide attributed revenue by (ROAS).

The file is what an ads manager exports, trimmed to four columns: ``date`` (ISO, ``2026-11-20``), ``channel`` (a
channel of the seed ``channels``: paid_search, paid_social, ...), ``campaign`` (the utm_campaign the ads carry;
empty: ``(not set)``) and ``spend`` (VND: ``1500000``, ``1.500.000`` or ``1,500,000``). A row replaces the spend
already imported for its day, channel and campaign, so importing a file again, or a corrected one, never adds up
twice. A bad row stops the import naming its line and column; nothing of the file is imported then.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

_AMOUNT = re.compile(r"\d{1,3}(?:([.,])\d{3})?(?:\1\d{3})*|\d+(?:\.\d+)?")
_HEADERS = {"date": ("date", "date_day", "day"), "channel": ("channel",), "campaign": ("campaign", "utm_campaign"),
            "spend": ("spend", "cost", "amount")}  # fmt: skip


class AdSpendError(ValueError):
    """The file cannot be imported; the message names the line and column."""


@dataclass(frozen=True)
class SpendRow:
    day: date
    channel: str
    campaign: str
    spend: Decimal


def read_spend(path: Path, channels: set[str] | None = None) -> list[SpendRow]:
    """The file's rows, checked (``channels``: the known ones, when the warehouse has them)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise AdSpendError(f"{path}: cannot read it as UTF-8 text: {error}") from None
    reader = csv.DictReader(text.splitlines())
    found = {name.strip().lower(): name for name in reader.fieldnames or []}
    columns = {}
    for column, names in _HEADERS.items():
        match = next((found[name] for name in names if name in found), None)
        if match is None and column != "campaign":
            raise AdSpendError(f"{path}: no {column} column (the header names: {', '.join(found) or 'none'})")
        columns[column] = match
    rows: dict[tuple[date, str, str], SpendRow] = {}
    for line, record in enumerate(reader, start=2):
        if None in record:  # DictReader keeps the fields beyond the header's under None
            raise AdSpendError(f"{path}, line {line}: more fields than the header's {len(found)} (an unquoted comma?)")
        row = _row(record, columns, channels, f"{path}, line {line}")
        rows[(row.day, row.channel, row.campaign)] = row  # a key twice in one file: the later line wins
    return list(rows.values())


def _row(record: dict[str, Any], columns: dict[str, str | None], channels: set[str] | None, where: str) -> SpendRow:
    def value(column: str) -> str:
        name = columns[column]
        return (record.get(name) or "").strip() if name else ""

    try:
        day = date.fromisoformat(value("date"))
    except ValueError:
        raise AdSpendError(f"{where}: date must be a day such as 2026-11-20, got {value('date')!r}") from None
    channel = value("channel").lower()
    if not channel or (channels is not None and channel not in channels):
        known = f" (known: {', '.join(sorted(channels))})" if channels else ""
        raise AdSpendError(f"{where}: channel {channel!r} is not a channel{known}")
    amount = value("spend").replace(" ", "").removesuffix("₫").removesuffix("đ")
    if not _AMOUNT.fullmatch(amount):
        raise AdSpendError(
            f"{where}: spend must be an amount in VND such as 1500000 or 1.500.000, got {value('spend')!r}"
        )
    grouped = re.fullmatch(r"\d{1,3}([.,]\d{3})+", amount)
    spend = Decimal(re.sub(r"[.,]", "", amount) if grouped else amount)
    return SpendRow(day, channel, value("campaign") or "(not set)", spend)


def import_spend(conn: psycopg.Connection[Any], path: Path) -> tuple[int, int]:
    """Import ``path`` into raw.ad_spend in one transaction: (rows added, rows replaced)."""
    known = conn.execute("select to_regclass('marts.channels') is not null").fetchone()
    channels = {row[0] for row in conn.execute("select channel from marts.channels")} if known and known[0] else None
    rows = read_spend(path, channels)
    with conn.transaction():
        written = conn.execute(
            """
            with incoming as (
                select * from unnest(%s::date[], %s::text[], %s::text[], %s::numeric[])
                    as incoming (date_day, channel, campaign, spend)
            )
            insert into raw.ad_spend as spend (date_day, channel, campaign, spend, source_file)
            select date_day, channel, campaign, spend, %s from incoming
            on conflict (date_day, channel, campaign) do update
            set spend = excluded.spend, source_file = excluded.source_file, imported_at = now()
            returning xmax = 0
            """,
            (
                [r.day for r in rows],
                [r.channel for r in rows],
                [r.campaign for r in rows],
                [r.spend for r in rows],
                path.name,
            ),
        ).fetchall()
    added = sum(1 for (inserted,) in written if inserted)
    return added, len(written) - added
