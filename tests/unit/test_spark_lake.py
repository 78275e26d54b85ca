"""The raw lake for Spark: each warehouse type has a Spark type that keeps its values (no rounding decimals)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from loader.spark_lake import _spark_type, _spark_value


def test_numerics_keep_their_scale_and_an_unconstrained_one_gets_six_decimals() -> None:
    assert _spark_type("numeric", 12, 2) == "decimal(12,2)"
    assert _spark_type("numeric", None, None) == "decimal(38,6)"  # a bare decimal would be decimal(10,0) on Spark


def test_json_and_uuids_become_text_and_instants_utc() -> None:
    assert _spark_type("jsonb", None, None) == "string"
    assert _spark_value({"eventName": "page_view", "n": [1]}, "string") == '{"eventName":"page_view","n":[1]}'
    ict = timezone(timedelta(hours=7))
    assert _spark_value(datetime(2026, 12, 6, 7, 0, tzinfo=ict), "timestamp") == datetime(2026, 12, 6, 0, 0)
    assert _spark_value(3980000, "decimal(38,6)") == Decimal(3980000)


def test_a_type_with_no_spark_counterpart_is_named() -> None:
    with pytest.raises(ValueError, match="'money'"):
        _spark_type("money", None, None)
