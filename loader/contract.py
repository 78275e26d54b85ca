"""The event contract: one canonical (camelCase) shape for what the tracker sends.

``normalize_event`` accepts the tracker's camelCase or snake_case spellings, checks
types and sizes, keeps unknown fields untouched, and returns the canonical event or
raises :class:`ContractError` with a reason a client developer can act on.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 500
# Stamped into ``_ingest.contract`` by the collector: the loader trusts events of the current version.
# 2: the old pipeline's spellings (context_product, product_*, identity_source, event_timestamp) are mapped and an
# empty userId counts as none; events stamped 1 are read again under these rules.
CONTRACT_VERSION = 2

KNOWN_EVENT_NAMES = frozenset(
    {
        "page_view", "click", "home_view", "category_view", "product_view", "add_to_cart_click",
        "remove_from_cart_click", "wishlist_toggle", "share_click", "login_open", "login_success",
        "logout", "checkout_start", "checkout_complete",
    }
)  # fmt: skip
LOGIN_STATES = frozenset({"logged_in", "anonymous", "guest"})

# Namespace of event ids derived from content (uuid5); never change it, or retries stop de-duplicating.
DERIVED_ID_NAMESPACE = uuid.UUID("5f6b3c1e-8d2a-4c7e-9b1f-3a2d4e5f6a7b")

_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

EVENT_ALIASES = {
    "event_name": "eventName", "event_id": "eventId", "user_id": "userId", "client_id": "clientId",
    "session_id": "sessionId", "user_login_state": "userLoginState", "is_first_visit": "isFirstVisit",
    "page_url": "pageUrl", "page_title": "pageTitle", "page_path": "pagePath", "referrer_url": "referrer",
    "identity_source": "identitySource", "event_timestamp": "eventTimestamp", "context_product": "contextProduct",
}  # fmt: skip
# Inside a product block; the old pipeline's ``product_*`` spellings too (``context_product.product_price``).
PRODUCT_ALIASES = {
    "product_id": "id", "product_name": "name", "discount_price": "discountPrice", "url_path": "urlPath",
    "brand_name": "brandName", "product_category": "category", "product_brand": "brand", "product_price": "price",
    "product_discount_price": "discountPrice", "product_url_path": "urlPath",
}  # fmt: skip
# The old pipeline's flat product columns at the top level of an event (its clickstream_events table's spellings).
FLAT_PRODUCT_FIELDS = {
    "product_id": "id", "product_name": "name", "product_category": "category", "product_brand": "brand",
    "product_price": "price", "product_discount_price": "discountPrice", "product_url_path": "urlPath",
}  # fmt: skip


class ContractError(ValueError):
    """The event breaks the contract; ``str(error)`` is the reason given back to the client."""


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _identifier(field: str, value: Any, *, max_len: int = 128) -> str:
    """Ids arrive as strings or numbers; both become non-empty trimmed strings."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ContractError(f"{field}: expected a string, got {_kind(value)}")
    text = str(value).strip()
    if not text:
        raise ContractError(f"{field}: must not be empty")
    if len(text) > max_len:
        raise ContractError(f"{field}: longer than {max_len} characters")
    return text


def _text(field: str, value: Any, *, max_len: int) -> str:
    if not isinstance(value, str):
        raise ContractError(f"{field}: expected a string, got {_kind(value)}")
    if len(value) > max_len:
        raise ContractError(f"{field}: longer than {max_len} characters")
    return value


def _boolean(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1) and not isinstance(value, float):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ContractError(f"{field}: expected true or false, got {_kind(value)}")


_GROUPED_DIGITS = re.compile(r"\d{1,3}([.,])\d{3}(?:\1\d{3})*")  # "1.990.000" (VND) or "1,990,000"


def _amount(field: str, value: Any) -> int | float:
    """Prices: a non-negative number, or a string holding one ("1990000", "1.990.000", "1,990,000", "19.9")."""
    number: Any = value
    if isinstance(value, str):
        text = value.strip()
        if _GROUPED_DIGITS.fullmatch(text):
            text = text.replace(".", "").replace(",", "")
        try:
            number = float(text.replace(",", ""))
        except ValueError:
            raise ContractError(f"{field}: expected a number, got {value[:40]!r}") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise ContractError(f"{field}: expected a number, got {_kind(value)}")
    if number < 0:
        raise ContractError(f"{field}: must not be negative")
    return int(number) if float(number).is_integer() else number


def parse_instant(field: str, value: Any) -> datetime:
    """A client timestamp: epoch milliseconds (number) or an ISO-8601 string; returns aware UTC."""
    if isinstance(value, bool):
        raise ContractError(f"{field}: expected epoch milliseconds or an ISO-8601 string, got boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or not 0 < value < 32503680000000:
            raise ContractError(f"{field}: {value!r} is not a plausible epoch-milliseconds time")
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            try:
                return parsed.astimezone(UTC)
            except OverflowError:  # e.g. 0001-01-01T00:00+01:00 falls before year 1 in UTC
                raise ContractError(f"{field}: {value!r} is out of range") from None
    raise ContractError(f"{field}: expected epoch milliseconds or an ISO-8601 string, got {_kind(value)}")


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, as the Node ingest wrote ``receivedAt``."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# A JSON \u0000 escape not preceded by an escaping backslash: PostgreSQL's jsonb cannot store NUL.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# orjson reads integers beyond 64 bits as floats; documents with 19-digit runs take the exact (slower) parser.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(data: str | bytes) -> Any:
    """Parse JSON strictly: no NaN/Infinity, no out-of-range numbers, big integers kept exact."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _LONG_DIGITS in raw.translate(_DIGITS_TO_ZERO):
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    return orjson.loads(raw)


def encode_event(value: Any) -> bytes:
    """Compact UTF-8 JSON of an event, or :class:`ContractError` if PostgreSQL's jsonb could not hold it."""
    try:
        data = orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits (kept exact by loads), or an unpaired surrogate
        try:
            data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:
            raise ContractError("event: contains invalid Unicode (an unpaired surrogate escape)") from None
        except RecursionError:
            raise ContractError("event: nested too deeply") from None
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        raise ContractError("event: contains a NUL character (\\u0000), which the warehouse cannot store")
    return data


def json_size(value: Any) -> int:
    return len(encode_event(value))


def _rename(source: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    """Map snake_case spellings to camelCase; the camelCase value wins when both are present."""
    if aliases.keys().isdisjoint(source.keys()):
        return dict(source)
    out: dict[str, Any] = {}
    for key, value in source.items():
        canonical = aliases.get(key, key)
        if canonical != key and canonical in source:
            continue
        out[canonical] = value
    return out


def _normalize_product(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ContractError(f"product: expected an object, got {_kind(value)}")
    product = _rename(value, PRODUCT_ALIASES)
    if "brand" not in product and "brandName" in product:
        product["brand"] = product["brandName"]
    for field, max_len in (("id", 128),):
        if product.get(field) is not None:
            product[field] = _identifier(f"product.{field}", product[field], max_len=max_len)
    for field, max_len in (("name", 512), ("category", 128), ("brand", 128), ("brandName", 128), ("urlPath", 2048)):
        if product.get(field) is not None:
            product[field] = _text(f"product.{field}", product[field], max_len=max_len)
    for field in ("price", "discountPrice"):
        if product.get(field) is not None:
            product[field] = _amount(f"product.{field}", product[field])
    return product


def _merge_old_product(event: dict[str, Any]) -> None:
    """The old pipeline read a ``context_product`` block and flat ``product_*`` fields as well as ``product``:
    all land in ``product`` (``product``'s own values win, then the block's, then the flat fields)."""
    block = event.pop("contextProduct", None)
    flat = {FLAT_PRODUCT_FIELDS[key]: event.pop(key) for key in list(event) if key in FLAT_PRODUCT_FIELDS}
    if block is None and not flat:
        return
    if block is not None and not isinstance(block, dict):
        raise ContractError(f"context_product: expected an object, got {_kind(block)}")
    product = event.get("product")
    if product is not None and not isinstance(product, dict):
        return  # _normalize_product names the problem
    merged: dict[str, Any] = {key: value for key, value in flat.items() if value is not None}
    merged.update(_rename(block or {}, PRODUCT_ALIASES))
    merged.update(_rename(product or {}, PRODUCT_ALIASES))
    event["product"] = merged


def _normalize_element(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ContractError(f"element: expected an object, got {_kind(value)}")
    for field in ("tag", "id", "role", "text"):
        if value.get(field) is not None:
            _text(f"element.{field}", value[field], max_len=1024)
    if value.get("dataset") is not None and not isinstance(value["dataset"], dict):
        raise ContractError(f"element.dataset: expected an object, got {_kind(value['dataset'])}")
    return value


def derive_event_id(event: Mapping[str, Any], context: str = "") -> str:
    """A stable id from the event's content (and its occurrence among identical ones), so retries de-duplicate."""
    content = {k: v for k, v in event.items() if k not in ("eventId", "_contract")}
    digest = hashlib.sha256((canonical_json(content) + "|" + context).encode("utf-8")).hexdigest()
    return str(uuid.uuid5(DERIVED_ID_NAMESPACE, digest))


_FIELD_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "clientId": lambda f, v: _identifier(f, v),
    "sessionId": lambda f, v: _identifier(f, v),
    "userId": lambda f, v: _identifier(f, v),
    "userLoginState": lambda f, v: _text(f, v, max_len=32).strip().lower(),
    "isFirstVisit": _boolean,
    "pageUrl": lambda f, v: _text(f, v, max_len=4096),
    "pagePath": lambda f, v: _text(f, v, max_len=2048),
    "pageTitle": lambda f, v: _text(f, v, max_len=1024),
    "referrer": lambda f, v: _text(f, v, max_len=4096),
    "product": lambda f, v: _normalize_product(v),
    "element": lambda f, v: _normalize_element(v),
}


def normalize_event(raw: Any, *, derived_ids: Counter[str] | None = None) -> dict[str, Any]:
    """Return the canonical event or raise :class:`ContractError`.

    ``derived_ids`` counts the ids derived so far in the same request (or object): identical
    id-less events in one request are numbered, so each keeps its own id and a retry gets the same ones.
    """
    if not isinstance(raw, dict):
        raise ContractError(f"event: expected a JSON object, got {_kind(raw)}")
    size = json_size(raw)
    if size > MAX_EVENT_BYTES:
        raise ContractError(f"event: {size} bytes, over the {MAX_EVENT_BYTES}-byte limit")
    event = _rename(raw, EVENT_ALIASES)

    name = event.get("eventName")
    if name is None:
        raise ContractError("eventName: required")
    if not isinstance(name, str):
        raise ContractError(f"eventName: expected a string, got {_kind(name)}")
    name = name.strip().lower()
    if not _EVENT_NAME.match(name):
        raise ContractError("eventName: must be 1-64 characters of a-z, 0-9 and _, starting with a letter")
    event["eventName"] = name

    if event.get("clientId") is None:
        raise ContractError("clientId: required")
    _merge_old_product(event)
    notes: dict[str, Any] = {}
    if isinstance(event.get("userId"), str) and not event["userId"].strip():
        event["userId"] = None  # an empty id is no user, as the old pipeline took it
        notes["emptyUserId"] = True
    for field, check in _FIELD_CHECKS.items():
        if event.get(field) is not None:
            event[field] = check(field, event[field])
    if event.get("timestamp") is not None:
        parse_instant("timestamp", event["timestamp"])
    if event.get("identitySource") is not None:
        event["identitySource"] = _text("identitySource", event["identitySource"], max_len=32)
    if event.get("eventTimestamp") is not None:
        parse_instant("eventTimestamp", event["eventTimestamp"])

    raw_id = event.get("eventId")
    try:
        if raw_id is None:
            raise ValueError
        event["eventId"] = str(uuid.UUID(str(raw_id).strip()))
    except (ValueError, AttributeError, TypeError):
        notes["eventIdDerived"] = True
        if raw_id is not None:
            notes["invalidEventId"] = str(raw_id)[:128]
        event.pop("eventId", None)
        # A sent id that is no UUID (the tracker's "1764700981234-9f8e7d6c" on a non-secure origin) still tells
        # events apart: it goes into the derived id, so a retry gets the same one and two events never share it.
        sent = "" if raw_id is None else f"id:{str(raw_id)[:128]}"
        event["eventId"] = derive_event_id(event, sent)
        if derived_ids is not None:
            occurrence = derived_ids[event["eventId"]]
            derived_ids[event["eventId"]] += 1
            if occurrence:
                event["eventId"] = derive_event_id(event, f"{sent}#{occurrence}")
    if notes:
        event["_contract"] = {**(event.get("_contract") or {}), **notes}
    return event
