"""The collector: turns one HTTP request of the tracker into one raw object in the lake.

``Collector.handle`` is transport-agnostic; ``request_from_apigw`` / ``HttpResponse.to_apigw``
adapt API Gateway HTTP API (payload format 2.0) events, and ``loader.serve`` adapts plain HTTP.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
import traceback
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loader import logs
from loader.collector_format import encode_object
from loader.config import IngestSettings
from loader.contract import (
    CONTRACT_VERSION,
    MAX_BATCH_EVENTS,
    MAX_REQUEST_BYTES,
    ContractError,
    encode_event,
    iso_utc,
    loads,
    normalize_event,
    parse_instant,
)
from loader.privacy import anonymize_ip
from loader.rawstore import RawStore, StoreError, partition_key

MAX_EVENT_AGE = timedelta(days=30)  # a tracker queue older than this is a broken device clock, not a backlog


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str = "/clickstream"
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: str | bytes | None = None
    is_base64: bool = False
    source_ip: str | None = None
    request_id: str | None = None
    api_id: str | None = None
    stage: str | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_apigw(self) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.body is not None:
            headers.setdefault("content-type", "application/json")
        return {
            "statusCode": self.status,
            "headers": headers,
            "body": json.dumps(self.body) if self.body is not None else "",
            "isBase64Encoded": False,
        }


class BadRequest(Exception):
    def __init__(self, status: int, message: str, rejected: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.rejected = rejected


def request_from_apigw(event: Mapping[str, Any]) -> HttpRequest:
    """An API Gateway HTTP API event (format 2.0; REST/format 1.0 also understood)."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    return HttpRequest(
        method=str(http.get("method") or event.get("httpMethod") or "").upper(),
        path=str(http.get("path") or event.get("rawPath") or event.get("path") or ""),
        headers=headers,
        body=event.get("body"),
        is_base64=bool(event.get("isBase64Encoded")),
        source_ip=http.get("sourceIp") or (context.get("identity") or {}).get("sourceIp"),
        request_id=context.get("requestId"),
        api_id=context.get("apiId"),
        stage=context.get("stage"),
    )


def _event_time(event: dict[str, Any], sent_at: datetime | None, received_at: datetime) -> datetime:
    """``receivedAt - (sentAt - timestamp)``: the event's age by the device clock, on the server clock.

    An age below zero (an event "after" its batch was sent) counts as zero; an age over
    ``MAX_EVENT_AGE`` is not believed: the event time is then ``receivedAt``, flagged in ``_contract``.
    """
    if sent_at is None or event.get("timestamp") is None:
        return received_at
    age = sent_at - parse_instant("timestamp", event["timestamp"])
    if age > MAX_EVENT_AGE:
        event["_contract"] = {**(event.get("_contract") or {}), "timestampIgnored": "older than 30 days at sentAt"}
        return received_at
    return received_at - max(age, timedelta(0))


class Collector:
    """Validates, enriches and stores one request's events as one object."""

    def __init__(
        self,
        store: RawStore,
        settings: IngestSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_object_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.new_object_id = new_object_id

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Collector:
        from loader.config import RawStoreSettings
        from loader.rawstore import open_store

        environ = dict(os.environ if env is None else env)
        return cls(open_store(RawStoreSettings.from_env(environ)), IngestSettings.from_env(environ))

    def handle_apigw(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The Lambda entry: API Gateway event in, API Gateway response out."""
        return self.handle(request_from_apigw(event)).to_apigw()

    def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        received_at = self.clock()
        cors = self._cors_headers(request.headers.get("origin"))
        fields: dict[str, Any] = {"requestId": request.request_id, "method": request.method}
        try:
            response = self._handle(request, received_at, cors, fields)
        except BadRequest as error:
            body: dict[str, Any] = {"error": str(error)}
            if error.rejected:
                body["rejected"] = error.rejected
            response = HttpResponse(error.status, body, cors)
        except Exception:  # a bug, not the client's fault: answer 500 and keep the trace in the log
            fields["exception"] = traceback.format_exc()
            response = HttpResponse(500, {"error": "internal error"}, cors)
        fields.update(status=response.status, durationMs=round((time.perf_counter() - started) * 1000, 2))
        if response.status >= 400 and response.body:
            fields["error"] = response.body.get("error")
        logs.log("ingest", level=logging.ERROR if response.status >= 500 else logging.INFO, **fields)
        return response

    def _cors_headers(self, origin: str | None) -> dict[str, str]:
        allowed = self.settings.cors_origins
        if "*" in allowed:
            return {"access-control-allow-origin": "*"}
        if origin and origin in allowed:
            return {"access-control-allow-origin": origin, "vary": "Origin"}
        return {"vary": "Origin"}

    def _handle(
        self, request: HttpRequest, received_at: datetime, cors: dict[str, str], fields: dict[str, Any]
    ) -> HttpResponse:
        if request.method == "OPTIONS":
            preflight = {
                **cors,
                "access-control-allow-methods": "POST, OPTIONS",
                "access-control-allow-headers": "content-type, content-encoding",
                "access-control-max-age": "86400",
            }
            return HttpResponse(204, None, preflight)
        if request.method != "POST":
            error = {"error": f"method {request.method or '?'} not allowed; use POST"}
            return HttpResponse(405, error, {**cors, "allow": "POST, OPTIONS"})

        payload = self._parse_body(request)
        events, sent_at_raw = self._split_batch(payload)
        fields["events"] = len(events)
        sent_at = parse_instant("sentAt", sent_at_raw) if sent_at_raw is not None else None

        ingest = {
            "receivedAt": iso_utc(received_at),
            "sourceIp": anonymize_ip(request.source_ip, self.settings.ip_mode, self.settings.ip_salt),
            "userAgent": request.headers.get("user-agent"),
            "method": request.method,
            "path": request.path,
            "requestId": request.request_id,
            "apiId": request.api_id,
            "stage": request.stage,
            "traceId": request.headers.get("x-amzn-trace-id"),
            "contract": CONTRACT_VERSION,
        }
        if sent_at_raw is not None:
            ingest["sentAt"] = sent_at_raw

        accepted: list[bytes] = []
        rejected: list[dict[str, Any]] = []
        oversized = 0
        derived_ids: Counter[str] = Counter()
        for index, raw in enumerate(events):
            try:
                if isinstance(raw, dict):  # server-side blocks are never taken from the client
                    raw = {k: v for k, v in raw.items() if k not in ("_ingest", "_contract", "_enriched")}
                event = normalize_event(raw, derived_ids=derived_ids)
                # The id first and _ingest last: the loader reads both without parsing the event's text.
                event = {"eventId": event.pop("eventId"), **event}
                event["_ingest"] = {**ingest, "eventAt": iso_utc(_event_time(event, sent_at, received_at))}
                encoded = encode_event(event)
            except ContractError as error:
                oversized += "-byte limit" in str(error)
                rejected.append({"index": index, "reason": str(error)})
                continue
            accepted.append(encoded)
        fields["accepted"], fields["rejected"] = len(accepted), len(rejected)
        if not accepted:
            status = 413 if oversized == len(rejected) else 400
            reason = rejected[0]["reason"] if len(rejected) == 1 else "no valid event in the request"
            raise BadRequest(status, reason, rejected)

        key = partition_key(self.store.prefix, received_at, f"events-{self.new_object_id()}.json")
        body = encode_object(accepted)
        try:
            self.store.put(key, body)
        except StoreError as error:
            fields["storeError"] = str(error)
            return HttpResponse(
                503, {"error": "storage unavailable, nothing was stored; retry later"}, {**cors, "retry-after": "5"}
            )
        fields["key"] = key
        return HttpResponse(200, {"accepted": len(accepted), "rejected": rejected}, cors)

    @staticmethod
    def _parse_body(request: HttpRequest) -> Any:
        body = request.body
        if body is None or body == "" or body == b"":
            raise BadRequest(400, 'empty body; send one JSON event, a JSON array or {"events": [...]}')
        if request.is_base64:
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                raise BadRequest(400, "body is not valid base64") from None
        elif isinstance(body, str):
            data = body.encode("utf-8", errors="surrogatepass")
        else:
            data = body
        if len(data) > MAX_REQUEST_BYTES:
            raise BadRequest(413, f"request body is {len(data)} bytes, over the {MAX_REQUEST_BYTES}-byte limit")
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                data = inflater.decompress(data, MAX_REQUEST_BYTES + 1)
            except zlib.error:
                raise BadRequest(400, "body is not valid gzip") from None
            if len(data) > MAX_REQUEST_BYTES:
                raise BadRequest(413, f"decompressed body is over the {MAX_REQUEST_BYTES}-byte limit")
            if not inflater.eof:
                raise BadRequest(400, "body is not valid gzip (truncated)")
        elif encoding not in ("", "identity"):
            raise BadRequest(400, f"unsupported Content-Encoding {encoding!r}; send gzip or none")
        if not data.strip():
            raise BadRequest(400, 'empty body; send one JSON event, a JSON array or {"events": [...]}')
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest(400, "body is not UTF-8 text") from None
        try:
            return loads(text)
        except (ValueError, RecursionError) as error:
            raise BadRequest(400, f"body is not valid JSON: {str(error)[:200]}") from None

    @staticmethod
    def _split_batch(payload: Any) -> tuple[list[Any], Any]:
        sent_at = None
        if isinstance(payload, dict) and "events" in payload:
            events = payload["events"]
            sent_at = payload.get("sentAt", payload.get("sent_at"))
            if not isinstance(events, list):
                raise BadRequest(400, "events: expected an array of event objects")
        elif isinstance(payload, dict):
            events = [payload]
        elif isinstance(payload, list):
            events = payload
        else:
            kind = "null" if payload is None else type(payload).__name__
            raise BadRequest(400, f"expected a JSON object or array, got {kind}")
        if not events:
            raise BadRequest(400, "no events in the request")
        if len(events) > MAX_BATCH_EVENTS:
            raise BadRequest(413, f"{len(events)} events in one request, over the {MAX_BATCH_EVENTS}-event limit")
        if sent_at is not None:
            try:
                parse_instant("sentAt", sent_at)
            except ContractError as error:
                raise BadRequest(400, str(error)) from None
        return events, sent_at
