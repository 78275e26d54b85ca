"""Ad spend files as an ads manager exports them: what is read, and the errors that name the line and column."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from loader.ad_spend import AdSpendError, read_spend
from loader.shop import ad_spend_csv


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spend.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_amounts_are_read_in_the_ways_the_shop_writes_them(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffDate,Channel,Campaign,Spend\n"  # Excel's byte-order mark, capitalised headers
                           "2026-11-20,paid_social,black_friday,1500000\n"
                           "2026-11-20,paid_search,,1.250.000\n"
                           "2026-11-21,Paid_Social,black_friday,\"2,000,000\"\n"
                           "2026-11-21,email,newsletter,350000 ₫\n")  # fmt: skip
    rows = read_spend(path, {"paid_social", "paid_search", "email"})
    assert [(r.day, r.channel, r.campaign, r.spend) for r in rows] == [
        (date(2026, 11, 20), "paid_social", "black_friday", Decimal(1_500_000)),
        (date(2026, 11, 20), "paid_search", "(not set)", Decimal(1_250_000)),
        (date(2026, 11, 21), "paid_social", "black_friday", Decimal(2_000_000)),
        (date(2026, 11, 21), "email", "newsletter", Decimal(350_000)),
    ]


def test_a_key_given_twice_keeps_the_later_line(tmp_path: Path) -> None:
    path = write(tmp_path, "date,channel,campaign,cost\n2026-11-20,paid_social,a,100\n2026-11-20,paid_social,a,250\n")
    assert [r.spend for r in read_spend(path)] == [Decimal(250)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("day,channel\n", "no spend column (the header names: day, channel)"),
        (
            "date,channel,spend\n20/11/2026,paid_social,100\n",
            "line 2: date must be a day such as 2026-11-20, got '20/11/2026'",
        ),
        (
            "date,channel,spend\n2026-11-20,tv,100\n",
            "line 2: channel 'tv' is not a channel (known: email, paid_search, paid_social)",
        ),
        ("date,channel,spend\n2026-11-20,paid_social,1.5tr\n", "line 2: spend must be an amount in VND"),
        ("date,channel,spend\n2026-11-20,paid_social,-100\n", "line 2: spend must be an amount in VND"),
        ("date,channel,spend\n2026-11-20,paid_social,1.500,000\n", "line 2: more fields than the header's 3"),
    ],
)
def test_a_bad_file_names_the_line_and_what_was_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AdSpendError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_spend(write(tmp_path, text), {"paid_social", "paid_search", "email"})


def test_the_demos_spend_covers_every_day_and_paid_campaign(tmp_path: Path) -> None:
    rows = read_spend(write(tmp_path, ad_spend_csv(date(2026, 11, 18), date(2026, 11, 24))))
    assert len(rows) == 7 * 3 and all(r.spend > 0 for r in rows)
    assert {(r.channel, r.campaign) for r in rows} == {
        ("paid_social", "black_friday_2026"), ("paid_social", "gaming_gear"), ("paid_search", "(not set)")
    }  # fmt: skip
