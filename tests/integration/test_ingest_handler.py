"""The ingest Lambda handler, called with API Gateway HTTP API events, storing to S3 (moto) or a local lake."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from loader.config import IngestSettings, RawStoreSettings
from loader.ingest import Collector
from loader.parse import parse_object
from loader.privacy import anonymize_ip
from loader.rawstore import LocalStore, open_store
from tests.conftest import ROOT, load_module
from tests.unit.test_contract import BROWSER_EVENT

KEY_PATTERN = re.compile(r"^events/\d{4}/\d{2}/\d{2}/\d{2}/events-[0-9a-f-]{36}\.json$")


def apigw(
    body: Any = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    b64: bool = False,
    raw: bytes | None = None,
    encoded: str | None = None,
) -> dict[str, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    text = encoded if encoded is not None else (base64.b64encode(data).decode() if b64 else data.decode("utf-8"))
    return {
        "version": "2.0",
        "rawPath": "/clickstream",
        "headers": {"user-agent": "Mozilla/5.0 (iPhone)", "x-amzn-trace-id": "Root=1-abc", **(headers or {})},
        "requestContext": {
            "apiId": "api123",
            "stage": "$default",
            "requestId": "req-1",
            "http": {"method": method, "path": "/clickstream", "sourceIp": "113.161.42.77"},
        },
        "body": text,
        "isBase64Encoded": b64,
    }


class Lake:
    """Reads back what the handler stored, whichever back end."""

    def __init__(self, settings: RawStoreSettings) -> None:
        self.store = open_store(settings)

    def objects(self) -> dict[str, list[dict[str, Any]]]:
        return {o.key: json.loads(self.store.get(o.key)) for o in self.store.list("events/")}


@pytest.fixture(params=["s3", "local"])
def lambda_env(request: pytest.FixtureRequest, home: Path) -> tuple[Callable[..., dict[str, Any]], Lake]:
    """The real Lambda module, loaded the way Lambda loads it, configured for S3 or the local lake."""
    if request.param == "s3":
        request.getfixturevalue("s3_env")
    module = load_module(ROOT / "lambda" / "ingest" / "app.py")
    return module.handler, Lake(RawStoreSettings.from_env())


def call(handler: Callable[..., dict[str, Any]], event: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
    response = handler(event, None)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def test_the_browsers_single_event_is_stored_as_one_object_with_ingest_metadata(lambda_env: Any) -> None:
    handler, lake = lambda_env
    status, body = call(handler, apigw(BROWSER_EVENT))
    assert (status, body) == (200, {"accepted": 1, "rejected": []})
    objects = lake.objects()
    assert len(objects) == 1
    key, events = next(iter(objects.items()))
    assert KEY_PATTERN.match(key)
    [event] = events
    assert {k: v for k, v in event.items() if k != "_ingest"} == BROWSER_EVENT
    ingest = event["_ingest"]
    assert ingest["sourceIp"] == "113.161.42.0", "the last octet is zeroed by default"
    assert ingest["userAgent"] == "Mozilla/5.0 (iPhone)"
    assert (
        ingest["method"],
        ingest["path"],
        ingest["requestId"],
        ingest["apiId"],
        ingest["stage"],
        ingest["traceId"],
    ) == ("POST", "/clickstream", "req-1", "api123", "$default", "Root=1-abc")
    received = datetime.fromisoformat(ingest["receivedAt"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - received) < timedelta(minutes=1)
    assert key.startswith(f"events/{received:%Y/%m/%d/%H}/")
    assert ingest["eventAt"] == ingest["receivedAt"], "no client time: the event time is the receive time"


def test_a_json_array_and_a_batch_are_each_one_object(lambda_env: Any) -> None:
    handler, lake = lambda_env
    second = {**BROWSER_EVENT, "eventId": "11111111-2222-4333-8444-555555555555", "eventName": "add_to_cart_click"}
    assert call(handler, apigw([BROWSER_EVENT, second]))[0] == 200
    assert call(handler, apigw({"events": [BROWSER_EVENT, second, second], "sentAt": 1_700_000_000_000}))[0] == 200
    sizes = sorted(len(events) for events in lake.objects().values())
    assert sizes == [2, 3]


def test_stored_objects_have_one_event_per_line_id_first_and_ingest_last_as_the_loader_reads_them(home: Path) -> None:
    store = LocalStore(home / "lake")
    collector = Collector(store, IngestSettings(), clock=lambda: datetime(2026, 11, 24, 13, 5, 0, tzinfo=UTC))
    id_last = {**{k: v for k, v in BROWSER_EVENT.items() if k != "eventId"}, "eventId": BROWSER_EVENT["eventId"]}
    second = {**BROWSER_EVENT, "eventId": "11111111-2222-4333-8444-555555555555"}
    assert collector.handle_apigw(apigw({"events": [id_last, second]}))["statusCode"] == 200
    [obj] = list(store.list("events/"))
    body = store.get(obj.key)
    lines = body.split(b"\n")
    assert lines[0] == b"[" and lines[-1] == b"]" and len(lines) == 4
    for text in lines[1:-1]:
        event = json.loads(text.removesuffix(b","))
        keys = list(event)
        assert keys[0] == "eventId" and keys[-1] == "_ingest"
    assert parse_object(obj, body, load_id=1).body is body, "the loader takes it without parsing each event"


def test_batch_event_time_corrects_the_device_clock_and_keeps_both_originals(home: Path) -> None:
    store = LocalStore(home / "lake")
    received = datetime(2026, 11, 24, 13, 5, 0, tzinfo=UTC)
    collector = Collector(store, IngestSettings(), clock=lambda: received)
    # The device clock is 2 hours fast: it says the batch was sent at 15:05 and the event happened at 15:04:30.
    sent_at = int(datetime(2026, 11, 24, 15, 5, 0, tzinfo=UTC).timestamp() * 1000)
    event = {**BROWSER_EVENT, "timestamp": sent_at - 30_000}
    response = collector.handle_apigw(apigw({"events": [event], "sentAt": sent_at}))
    assert response["statusCode"] == 200
    [(key, [stored])] = [(o.key, json.loads(store.get(o.key))) for o in store.list("events/")]
    assert key.startswith("events/2026/11/24/13/")
    assert stored["_ingest"]["eventAt"] == "2026-11-24T13:04:30.000Z"
    assert stored["timestamp"] == sent_at - 30_000
    assert stored["_ingest"]["sentAt"] == sent_at


def test_an_event_time_in_the_future_is_capped_at_the_receive_time(home: Path) -> None:
    received = datetime(2026, 11, 24, 13, 5, 0, tzinfo=UTC)
    store = LocalStore(home / "lake")
    collector = Collector(store, IngestSettings(), clock=lambda: received)
    body = {"events": [{**BROWSER_EVENT, "timestamp": 2_000}], "sentAt": 1_000}
    assert collector.handle_apigw(apigw(body))["statusCode"] == 200
    [obj] = store.list("events/")
    assert json.loads(store.get(obj.key))[0]["_ingest"]["eventAt"] == "2026-11-24T13:05:00.000Z"


@pytest.mark.parametrize(
    ("timestamp", "sent_at"),
    [
        ("0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z"),
        ("2026-11-24T15:04:30Z", "9999-12-31T23:59:59-01:00"),
        ("0001-01-01T00:00:00+01:00", 1_764_000_000_000),
        (1, 32503679999999),
    ],
)
def test_absurd_device_clocks_never_get_a_5xx(home: Path, timestamp: Any, sent_at: Any) -> None:
    collector = Collector(LocalStore(home / "lake"), IngestSettings())
    response = collector.handle_apigw(apigw({"events": [{**BROWSER_EVENT, "timestamp": timestamp}], "sentAt": sent_at}))
    assert response["statusCode"] in (200, 400), response["body"]


def test_an_event_older_than_30_days_by_the_device_clock_gets_the_receive_time_and_a_flag(home: Path) -> None:
    received = datetime(2026, 11, 24, 13, 5, 0, tzinfo=UTC)
    store = LocalStore(home / "lake")
    collector = Collector(store, IngestSettings(), clock=lambda: received)
    body = {"events": [{**BROWSER_EVENT, "timestamp": "0500-01-01T00:00:00Z"}], "sentAt": "2026-11-24T13:05:00Z"}
    assert collector.handle_apigw(apigw(body))["statusCode"] == 200
    [obj] = store.list("events/")
    [stored] = json.loads(store.get(obj.key))
    assert stored["_ingest"]["eventAt"] == "2026-11-24T13:05:00.000Z"
    assert stored["_contract"] == {"timestampIgnored": "older than 30 days at sentAt"}


def test_a_retried_batch_without_event_ids_stores_the_same_ids(home: Path) -> None:
    """The tracker re-sends its queue with a new sentAt; identical events in it stay two events."""
    store = LocalStore(home / "lake")
    collector = Collector(store, IngestSettings())
    click = {k: v for k, v in BROWSER_EVENT.items() if k != "eventId"} | {"timestamp": 1_764_000_000_000}
    for sent_at in (1_764_000_001_000, 1_764_000_009_000):
        assert collector.handle_apigw(apigw({"events": [click, click], "sentAt": sent_at}))["statusCode"] == 200
    ids = [[e["eventId"] for e in json.loads(store.get(o.key))] for o in store.list("events/")]
    assert len(ids) == 2 and ids[0] == ids[1] and len(set(ids[0])) == 2


def test_base64_and_gzip_bodies_are_accepted(lambda_env: Any) -> None:
    handler, lake = lambda_env
    packed = gzip.compress(json.dumps([BROWSER_EVENT]).encode())
    status, body = call(handler, apigw(raw=packed, b64=True, headers={"content-encoding": "gzip"}))
    assert (status, body) == (200, {"accepted": 1, "rejected": []})
    assert len(lake.objects()) == 1


def test_some_bad_events_are_reported_and_the_good_ones_stored(lambda_env: Any) -> None:
    handler, lake = lambda_env
    bad = {**BROWSER_EVENT, "clientId": None}
    status, body = call(handler, apigw([BROWSER_EVENT, bad, "nope"]))
    assert status == 200
    assert body == {
        "accepted": 1,
        "rejected": [
            {"index": 1, "reason": "clientId: required"},
            {"index": 2, "reason": "event: expected a JSON object, got string"},
        ],
    }
    assert [len(v) for v in lake.objects().values()] == [1]


@pytest.mark.parametrize(
    ("event_kwargs", "status", "message"),
    [
        ({"raw": b""}, 400, "empty body"),
        ({"raw": b"{not json"}, 400, "body is not valid JSON"),
        ({"raw": b"[NaN]"}, 400, "body is not valid JSON"),
        ({"body": "just a string"}, 400, "expected a JSON object or array, got str"),
        ({"body": []}, 400, "no events in the request"),
        ({"body": {"events": {"a": 1}}}, 400, "events: expected an array"),
        ({"body": {"events": [BROWSER_EVENT], "sentAt": "soon"}}, 400, "sentAt: expected epoch milliseconds"),
        ({"body": {**BROWSER_EVENT, "eventName": None}}, 400, "eventName: required"),
        ({"encoded": "%%%", "b64": True}, 400, "body is not valid base64"),
        ({"raw": b"\xff\xfe\x00", "b64": True}, 400, "body is not UTF-8"),
        ({"raw": b"not gzip", "b64": True, "headers": {"content-encoding": "gzip"}}, 400, "body is not valid gzip"),
        ({"body": [BROWSER_EVENT], "headers": {"content-encoding": "br"}}, 400, "unsupported Content-Encoding"),
        ({"body": [BROWSER_EVENT] * 501}, 413, "501 events in one request, over the 500-event limit"),
        ({"raw": b"[" + b" " * (1024 * 1024) + b"]"}, 413, "over the 1048576-byte limit"),
        (
            {
                "raw": gzip.compress(b"[" + b" " * (2 * 1024 * 1024) + b"]"),
                "b64": True,
                "headers": {"content-encoding": "gzip"},
            },
            413,
            "decompressed body is over",
        ),
        ({"body": {**BROWSER_EVENT, "pad": "x" * 40_000}}, 413, "over the 32768-byte limit"),
        ({"body": [{**BROWSER_EVENT, "pad": "x" * 40_000}] * 2}, 413, "no valid event in the request"),
        ({"body": [{**BROWSER_EVENT, "pad": "x" * 40_000}, {"clientId": "c2"}]}, 400, "no valid event in the request"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_problem_and_nothing_is_stored(
    lambda_env: Any, event_kwargs: dict[str, Any], status: int, message: str
) -> None:
    handler, lake = lambda_env
    got_status, body = call(handler, apigw(**event_kwargs))
    assert got_status == status
    assert body is not None and message in body["error"]
    assert lake.objects() == {}


def test_other_methods_get_405_and_options_is_a_cors_preflight(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKSTREAM_CORS_ORIGINS", "https://shop.example.com, https://staging.shop.example.com")
    handler = load_module(ROOT / "lambda" / "ingest" / "app.py").handler
    get = handler(apigw(method="GET"), None)
    assert get["statusCode"] == 405 and get["headers"]["allow"] == "POST, OPTIONS"
    allowed = handler(apigw(method="OPTIONS", headers={"origin": "https://shop.example.com"}), None)
    assert allowed["statusCode"] == 204
    assert allowed["headers"]["access-control-allow-origin"] == "https://shop.example.com"
    assert "POST" in allowed["headers"]["access-control-allow-methods"]
    foreign = handler(apigw(method="OPTIONS", headers={"origin": "https://evil.example"}), None)
    assert "access-control-allow-origin" not in foreign["headers"]
    post = handler(apigw(BROWSER_EVENT, headers={"origin": "https://shop.example.com"}), None)
    assert post["headers"]["access-control-allow-origin"] == "https://shop.example.com"


def test_a_failing_s3_store_answers_503(s3_env: dict[str, str], home: Path) -> None:
    boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"]).delete_bucket(Bucket=s3_env["RAW_BUCKET_NAME"])
    handler = load_module(ROOT / "lambda" / "ingest" / "app.py").handler
    status, body = call(handler, apigw(BROWSER_EVENT))
    assert status == 503
    assert body == {"error": "storage unavailable, nothing was stored; retry later"}


def test_a_failing_local_store_answers_503_writes_nothing_and_logs_one_line(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = home / "lake"
    lake.mkdir(parents=True)
    (lake / "events").write_text("a file where the partitions should go")
    handler = load_module(ROOT / "lambda" / "ingest" / "app.py").handler
    capsys.readouterr()
    status, body = call(handler, apigw(BROWSER_EVENT))
    assert status == 503 and body == {"error": "storage unavailable, nothing was stored; retry later"}
    assert [p.name for p in lake.rglob("*")] == ["events"]
    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["status"] == 503 and line["level"] == "error" and "cannot write" in line["storeError"]


def test_each_request_logs_one_json_line(lambda_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    handler, _ = lambda_env
    capsys.readouterr()
    call(handler, apigw(BROWSER_EVENT))
    call(handler, apigw(raw=b"{"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["message"], line["status"]) for line in lines] == [("ingest", 200), ("ingest", 400)]
    assert lines[0]["requestId"] == "req-1" and lines[0]["accepted"] == 1 and KEY_PATTERN.match(lines[0]["key"])
    assert "not valid JSON" in lines[1]["error"]


def test_raw_prefix_is_honoured(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAW_PREFIX", "clickstream/raw")
    handler = load_module(ROOT / "lambda" / "ingest" / "app.py").handler
    assert call(handler, apigw(BROWSER_EVENT))[0] == 200
    assert list((home / "lake" / "clickstream" / "raw").rglob("events-*.json"))


@pytest.mark.parametrize(
    ("address", "mode", "expected"),
    [
        ("113.161.42.77", "truncate", "113.161.42.0"),
        ("2402:800:6314:1234:5678:9abc:def0:1", "truncate", "2402:800:6314::"),
        ("113.161.42.77", "full", "113.161.42.77"),
        ("not an ip", "truncate", None),
        (None, "truncate", None),
    ],
)
def test_source_ip_is_anonymised(address: str | None, mode: str, expected: str | None) -> None:
    assert anonymize_ip(address, mode) == expected


def test_an_ipv4_mapped_address_is_anonymised_as_ipv4() -> None:
    assert anonymize_ip("::ffff:113.161.42.77", "truncate") == "113.161.42.0"
    assert anonymize_ip("::ffff:113.161.42.77", "hash", "s" * 32) == anonymize_ip("113.161.42.77", "hash", "s" * 32)


def test_hash_mode_needs_a_salt_and_stores_a_salted_hash(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from loader.config import ConfigError

    monkeypatch.setenv("CLICKSTREAM_IP_MODE", "hash")
    with pytest.raises(ConfigError, match="CLICKSTREAM_IP_SALT"):
        IngestSettings.from_env()
    monkeypatch.setenv("CLICKSTREAM_IP_SALT", "s" * 32)
    handler = load_module(ROOT / "lambda" / "ingest" / "app.py").handler
    assert call(handler, apigw(BROWSER_EVENT))[0] == 200
    [stored] = [e for path in (home / "lake").rglob("events-*.json") for e in json.loads(path.read_text())]
    hashed = stored["_ingest"]["sourceIp"]
    assert hashed == anonymize_ip("113.161.42.77", "hash", "s" * 32) and len(hashed) == 32 and "113" not in hashed
    assert hashed != anonymize_ip("113.161.42.77", "hash", "t" * 32)
    assert anonymize_ip("2402:800:6314::1", "hash", "s" * 32) != anonymize_ip("2402:800:6314::2", "hash", "s" * 32)
