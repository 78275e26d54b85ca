"""Arbitrary bodies, headers and encodings: the collector never raises and never answers 5xx."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loader.config import IngestSettings
from loader.ingest import Collector, HttpRequest
from loader.rawstore import LocalStore

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
instants = st.one_of(  # device clocks: any ISO-8601 instant (years 1 to 9999, any offset) or epoch number
    st.builds(lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(), st.datetimes(), offsets),
    st.datetimes().map(datetime.isoformat),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
)
event_like = st.fixed_dictionaries(
    {
        "eventName": st.one_of(st.sampled_from(["product_view", "click", "Bad Name"]), json_values),
        "clientId": st.one_of(st.text(max_size=40), st.integers(), json_values),
    },
    optional={
        "eventId": json_values,
        "product": json_values,
        "isFirstVisit": json_values,
        "timestamp": st.one_of(instants, json_values),
        "userId": json_values,
        "element": json_values,
        "referrer": json_values,
    },
)
payloads = st.one_of(
    json_values,
    event_like,
    st.lists(event_like, max_size=8),
    st.fixed_dictionaries(
        {"events": st.one_of(st.lists(event_like, max_size=8), json_values)},
        optional={"sentAt": st.one_of(instants, json_values)},
    ),
)


@st.composite
def requests(draw: st.DrawFn) -> HttpRequest:
    kind = draw(st.sampled_from(["json", "bytes", "text"]))
    if kind == "json":
        body: bytes = json.dumps(draw(payloads)).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=300))
    else:
        body = draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    encoding = draw(st.sampled_from(["", "gzip", "identity", "br", "GZIP"]))
    if encoding.lower() == "gzip" and draw(st.booleans()):
        body = gzip.compress(body)
    is_base64 = draw(st.booleans())
    wire: str | bytes = base64.b64encode(body).decode() if is_base64 else body.decode("utf-8", "surrogateescape")
    if is_base64 and draw(st.integers(0, 9)) == 0:
        wire = draw(st.text(max_size=40))
    headers = draw(st.dictionaries(st.sampled_from(["origin", "user-agent", "x-amzn-trace-id"]), st.text(max_size=50)))
    headers["content-encoding"] = encoding
    method = draw(st.sampled_from(["POST", "POST", "POST", "GET", "OPTIONS", "PUT", ""]))
    source_ip = draw(st.one_of(st.none(), st.ip_addresses().map(str), st.text(max_size=20)))
    return HttpRequest(method=method, headers=headers, body=wire, is_base64=is_base64, source_ip=source_ip)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_client_input_never_raises_and_never_gets_a_5xx(tmp_path: Path, request: HttpRequest) -> None:
    collector = Collector(
        LocalStore(tmp_path / "lake", fsync=False), IngestSettings(cors_origins=("https://a.example",))
    )
    response = collector.handle(request)
    assert response.status in {200, 204, 400, 405, 413}, response.body
    if response.status == 200:
        body: dict[str, Any] = response.body or {}
        assert body["accepted"] >= 1
    assert json.loads(json.dumps(response.to_apigw()))
