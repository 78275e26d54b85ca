from __future__ import annotations

import copy
import json
import uuid
from collections import Counter

import pytest

from loader.contract import MAX_EVENT_BYTES, ContractError, derive_event_id, encode_event, loads, normalize_event

BROWSER_EVENT = json.loads(
    """{"eventName":"product_view","eventId":"8f3c2a9e-4d0b-4e57-9a51-0b7c9d1e2f33",
 "pageUrl":"https://shop.example.com/product/ban-phim-aula-m75-tm","referrer":null,
 "userId":null,"userLoginState":"anonymous",
 "clientId":"0d6f1c1e-7b7a-4f6e-9a43-2a1f3c5d8e90","sessionId":"5b2e9f4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b",
 "isFirstVisit":false,
 "product":{"id":"prod_aula_m75_tm","name":"Ban phim AULA M75 TM","category":"keyboard","brand":"AULA",
            "price":1990000,"discountPrice":1790000,"urlPath":"/product/ban-phim-aula-m75-tm"}}"""
)


def test_the_browsers_event_is_already_canonical_and_passes_unchanged() -> None:
    assert normalize_event(copy.deepcopy(BROWSER_EVENT)) == BROWSER_EVENT


def test_snake_case_spellings_become_camel_case() -> None:
    event = normalize_event(
        {
            "event_name": "click",
            "event_id": "8f3c2a9e-4d0b-4e57-9a51-0b7c9d1e2f33",
            "client_id": "c1",
            "session_id": "s1",
            "user_id": 42,
            "user_login_state": "LOGGED_IN",
            "is_first_visit": "true",
            "page_url": "https://shop.example.com/",
            "product": {"product_id": 7, "discount_price": "1790000", "url_path": "/p", "brand_name": "AULA"},
        }
    )
    assert event["eventName"] == "click"
    assert event["clientId"] == "c1" and event["sessionId"] == "s1"
    assert event["userId"] == "42"
    assert event["userLoginState"] == "logged_in"
    assert event["isFirstVisit"] is True
    assert event["pageUrl"] == "https://shop.example.com/"
    assert event["product"] == {
        "id": "7",
        "discountPrice": 1790000,
        "urlPath": "/p",
        "brandName": "AULA",
        "brand": "AULA",
    }
    assert not any("_" in key for key in event if not key.startswith("_"))


def test_camel_case_wins_when_both_spellings_are_sent() -> None:
    event = normalize_event({"eventName": "click", "event_name": "page_view", "clientId": "c1"})
    assert event["eventName"] == "click"
    assert "event_name" not in event


def test_unknown_fields_are_kept_untouched() -> None:
    event = normalize_event({**BROWSER_EVENT, "experiment": {"variant": "B"}, "screen_width": 390})
    assert event["experiment"] == {"variant": "B"}
    assert event["screen_width"] == 390


def test_missing_event_id_is_derived_from_content_and_flagged() -> None:
    raw = {k: v for k, v in BROWSER_EVENT.items() if k != "eventId"}
    request, retry = Counter[str](), Counter[str]()  # one request, then the same request again
    first, twin = normalize_event(copy.deepcopy(raw), derived_ids=request), normalize_event(raw, derived_ids=request)
    assert uuid.UUID(first["eventId"])
    assert first["eventId"] != twin["eventId"], "two identical events in one request are two events"
    assert [normalize_event(copy.deepcopy(raw), derived_ids=retry)["eventId"] for _ in range(2)] == [
        first["eventId"],
        twin["eventId"],
    ], "a retried request gets the same ids"
    assert first["_contract"] == {"eventIdDerived": True}


def test_big_integers_in_unknown_fields_are_stored_exactly() -> None:
    body = b'{"eventName":"click","clientId":"c1","order":123456789012345678901234567890,"n":-9223372036854775809}'
    event = normalize_event(loads(body))
    assert json.loads(encode_event(event)) == {**event}
    assert event["order"] == 123456789012345678901234567890 and event["n"] == -9223372036854775809


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_instants_beyond_the_calendar_are_a_contract_error(value: str) -> None:
    with pytest.raises(ContractError, match=r"timestamp: .* out of range"):
        normalize_event({"eventName": "click", "clientId": "c1", "timestamp": value})


def test_invalid_event_id_is_replaced_and_the_original_kept() -> None:
    event = normalize_event({**BROWSER_EVENT, "eventId": "not-a-uuid"})
    assert event["eventId"] != "not-a-uuid"
    assert event["_contract"] == {"eventIdDerived": True, "invalidEventId": "not-a-uuid"}


def test_event_id_is_normalised_to_lower_case_hyphenated_form() -> None:
    event = normalize_event({**BROWSER_EVENT, "eventId": "8F3C2A9E4D0B4E579A510B7C9D1E2F33"})
    assert event["eventId"] == "8f3c2a9e-4d0b-4e57-9a51-0b7c9d1e2f33"
    assert "_contract" not in event


def test_derived_id_ignores_the_stored_id_and_contract_notes() -> None:
    content = {"eventName": "click", "clientId": "c1"}
    assert derive_event_id(content) == derive_event_id({**content, "eventId": "x", "_contract": {"a": 1}})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"eventName": None}, "eventName: required"),
        ({"eventName": 5}, "eventName: expected a string, got number"),
        ({"eventName": "add to cart"}, "eventName: must be"),
        ({"clientId": None}, "clientId: required"),
        ({"clientId": {"id": 1}}, "clientId: expected a string, got object"),
        ({"clientId": "   "}, "clientId: must not be empty"),
        ({"userId": ["u1"]}, "userId: expected a string, got array"),
        ({"isFirstVisit": "maybe"}, "isFirstVisit: expected true or false"),
        ({"pageUrl": 404}, "pageUrl: expected a string, got number"),
        ({"product": "prod_1"}, "product: expected an object, got string"),
        ({"product": {"id": "p", "price": "abc"}}, "product.price: expected a number"),
        ({"product": {"id": "p", "price": -1}}, "product.price: must not be negative"),
        ({"product": {"id": True}}, "product.id: expected a string, got boolean"),
        ({"element": [1]}, "element: expected an object, got array"),
        ({"element": {"dataset": "x"}}, "element.dataset: expected an object"),
        ({"timestamp": "yesterday"}, "timestamp: expected epoch milliseconds or an ISO-8601 string"),
    ],
)
def test_wrong_types_are_rejected_with_a_reason_naming_the_field(change: dict[str, object], reason: str) -> None:
    with pytest.raises(ContractError) as error:
        normalize_event({**BROWSER_EVENT, **change})
    assert str(error.value).startswith(reason)


def test_non_objects_are_rejected() -> None:
    with pytest.raises(ContractError, match="event: expected a JSON object, got array"):
        normalize_event([BROWSER_EVENT])


def test_an_event_over_32_kb_is_rejected_with_its_size() -> None:
    big = {**BROWSER_EVENT, "element": {"text": "x" * 1000, "dataset": {"blob": "y" * MAX_EVENT_BYTES}}}
    with pytest.raises(ContractError, match=r"event: \d+ bytes, over the 32768-byte limit"):
        normalize_event(big)


@pytest.mark.parametrize(
    ("sent", "price"),
    [("1990000", 1990000), ("1.990.000", 1990000), ("1,990,000", 1990000), (" 19.9 ", 19.9), ("0", 0)],
)
def test_prices_sent_as_text_are_read_as_shop_pages_write_them(sent: str, price: float) -> None:
    assert normalize_event({**BROWSER_EVENT, "product": {"id": "p", "price": sent}})["product"]["price"] == price


def test_prices_as_numeric_strings_and_login_state_case_are_normalised() -> None:
    event = normalize_event({**BROWSER_EVENT, "userLoginState": "Guest", "product": {"id": "p", "price": "1,990,000"}})
    assert event["product"]["price"] == 1990000
    assert event["userLoginState"] == "guest"


def test_brand_name_fills_brand_when_brand_is_absent() -> None:
    product = {k: v for k, v in BROWSER_EVENT["product"].items() if k != "brand"} | {"brandName": "AULA"}
    assert normalize_event({**BROWSER_EVENT, "product": product})["product"]["brand"] == "AULA"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"eventName":"click","clientId":"a\\u0000b"}', "contains a NUL character"),
        ('{"eventName":"click","clientId":"a\\ud800"}', "contains invalid Unicode"),
    ],
)
def test_values_the_warehouse_cannot_store_are_rejected_up_front(body: str, reason: str) -> None:
    with pytest.raises(ContractError, match=reason):
        normalize_event(json.loads(body))


@pytest.mark.parametrize("text", ["[1e400]", "[NaN]", '{"a": -Infinity}'])
def test_json_with_non_finite_numbers_is_not_accepted(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)


def test_big_integers_are_parsed_exactly() -> None:
    assert loads('{"orderNumber": 123456789012345678901234567890}') == {"orderNumber": 123456789012345678901234567890}
    assert loads(b'{"n": 18446744073709551615}') == {"n": 18446744073709551615}


def test_an_escaped_backslash_before_u0000_is_ordinary_text() -> None:
    assert normalize_event(json.loads('{"eventName":"click","clientId":"a\\\\u0000"}'))["clientId"] == "a\\u0000"


# -- the old pipeline's objects and the real tracker's ids ------------------------------------------------------
def test_a_context_product_block_with_the_old_spellings_fills_the_product() -> None:
    event = normalize_event(
        {
            "event_name": "add_to_cart_click",
            "client_id": "c1",
            "context_product": {
                "product_id": "cmiplejed000kxzk0du54t4hv",
                "product_name": "Bàn phím AULA F75",
                "product_category": "keyboard",
                "product_brand": "AULA",
                "product_price": "1.990.000",
                "product_discount_price": 1790000,
                "product_url_path": "/product/ban-phim-aula-f75",
            },
        }
    )
    assert event["product"] == {
        "id": "cmiplejed000kxzk0du54t4hv",
        "name": "Bàn phím AULA F75",
        "category": "keyboard",
        "brand": "AULA",
        "price": 1990000,
        "discountPrice": 1790000,
        "urlPath": "/product/ban-phim-aula-f75",
    }
    assert "context_product" not in event and "contextProduct" not in event


def test_flat_product_columns_fill_the_product_and_a_sent_product_wins() -> None:
    event = normalize_event(
        {
            "eventName": "product_view",
            "clientId": "c1",
            "product_id": "old-id",
            "product_price": "100",
            "product_brand": "Akko",
            "product": {"id": "new-id", "price": 200},
        }
    )
    assert event["product"] == {"id": "new-id", "price": 200, "brand": "Akko"}
    assert not {"product_id", "product_price", "product_brand"} & event.keys()


def test_a_broken_context_product_is_named() -> None:
    with pytest.raises(ContractError, match="context_product: expected an object"):
        normalize_event({"eventName": "click", "clientId": "c1", "context_product": "laptop"})


def test_an_empty_user_id_is_no_user_and_is_flagged_not_rejected() -> None:
    event = normalize_event({"eventName": "page_view", "clientId": "c1", "userId": "  "})
    assert event["userId"] is None and event["_contract"]["emptyUserId"] is True


def test_the_old_identity_source_and_event_timestamp_are_kept_in_camel_case() -> None:
    event = normalize_event(
        {"eventName": "page_view", "clientId": "c1", "identity_source": "cognito", "event_timestamp": 1764700981234}
    )
    assert (event["identitySource"], event["eventTimestamp"]) == ("cognito", 1764700981234)
    with pytest.raises(ContractError, match="eventTimestamp"):
        normalize_event({"eventName": "page_view", "clientId": "c1", "eventTimestamp": "yesterday"})


def test_ids_a_non_secure_origin_sends_stay_distinct_and_stable() -> None:
    """On http:// the tracker has no crypto.randomUUID: ids are epoch ms and 8 hex digits."""
    body = {"eventName": "page_view", "clientId": "1764700981234-9f8e7d6c", "sessionId": "1764700981301-0a1b2c3d"}
    first = normalize_event({**body, "eventId": "1764700981400-12345678"})
    second = normalize_event({**body, "eventId": "1764700981999-87654321"})
    assert first["eventId"] != second["eventId"], "two events with the same content but their own ids"
    assert first["eventId"] == normalize_event({**body, "eventId": "1764700981400-12345678"})["eventId"], "a retry"
    assert first["_contract"]["invalidEventId"] == "1764700981400-12345678"
    assert first["clientId"] == "1764700981234-9f8e7d6c"
