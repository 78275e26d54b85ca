"""The local collector over real HTTP: same handler, same objects as the Lambda."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loader.ingest import Collector
from loader.serve import make_server
from tests.unit.test_contract import BROWSER_EVENT


@pytest.fixture
def collector_url(home: Path) -> Iterator[str]:
    server = make_server(Collector.from_env(), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def post(
    url: str, data: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_storefront_can_post_to_the_local_collector(collector_url: str, home: Path) -> None:
    status, _, body = post(
        f"{collector_url}/clickstream",
        json.dumps(BROWSER_EVENT).encode(),
        {"content-type": "application/json", "user-agent": "Mozilla/5.0 (X11)"},
    )
    assert (status, json.loads(body)) == (200, {"accepted": 1, "rejected": []})
    [path] = list((home / "lake" / "events").rglob("events-*.json"))
    [stored] = json.loads(path.read_text())
    assert stored["eventId"] == BROWSER_EVENT["eventId"]
    assert stored["_ingest"]["sourceIp"] == "127.0.0.0"
    assert stored["_ingest"]["userAgent"] == "Mozilla/5.0 (X11)"
    assert stored["_ingest"]["apiId"] == "local"


def test_a_text_plain_batch_as_a_beacon_sends_it_is_accepted(collector_url: str) -> None:
    """navigator.sendBeacon and a preflight-free fetch send text/plain: the body is JSON all the same."""
    body = json.dumps({"events": [{**BROWSER_EVENT, "eventId": str(uuid.uuid4())}] * 1, "sentAt": 1}).encode()
    status, headers, reply = post(
        f"{collector_url}/clickstream", body, {"content-type": "text/plain;charset=UTF-8", "origin": "https://shop.vn"}
    )
    assert (status, json.loads(reply)["accepted"]) == (200, 1)
    assert headers["access-control-allow-origin"] == "*"


def test_gzip_batches_preflight_and_errors_over_http(collector_url: str) -> None:
    body = gzip.compress(json.dumps({"events": [BROWSER_EVENT] * 3, "sentAt": 1}).encode())
    status, _, reply = post(f"{collector_url}/clickstream", body, {"content-encoding": "gzip"})
    assert (status, json.loads(reply)["accepted"]) == (200, 3)
    status, headers, _ = post(
        f"{collector_url}/clickstream", b"", {"origin": "http://localhost:3000"}, method="OPTIONS"
    )
    assert status == 204 and headers["access-control-allow-origin"] == "*"
    assert post(f"{collector_url}/clickstream", b"{oops")[0] == 400
    assert post(f"{collector_url}/clickstream", b"", method="GET")[0] == 405
    assert post(f"{collector_url}/elsewhere", b"{}")[0] == 404


def raw_http(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        return conn.recv(65536)


@pytest.mark.parametrize(
    ("request_head", "status"),
    [
        (b"HEAD /clickstream HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
        (b"TRACE /clickstream HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
        (b"POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", b"400"),
        (b"POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", b"400"),
        (b"POST /clickstream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", b"411"),
        ("POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: \u00b2\r\n\r\n{}".encode(), b"400"),
        ("POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: \u0662\r\n\r\n{}".encode(), b"400"),
        (b"POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}", b"400"),
        (b"POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}", b"411"),
        (b"POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n{}", b"400"),
        (b"POST /clickstream HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", b"431"),
        (b"POST /clickstream HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(120)) + b"\r\n", b"431"),
        (b"POST /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", b"414"),
        (b"POST /clickstream HTTP/9.9\r\n\r\n", b"400"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", b"400"),  # TLS spoken to plain HTTP
    ],
)
def test_odd_http_requests_get_a_4xx_answer(collector_url: str, request_head: bytes, status: bytes) -> None:
    assert raw_http(collector_url, request_head).split(b" ")[1] == status


def exchange(url: str, request: bytes) -> bytes:
    """``request`` sent whole (the write side then closed, as a client that sent everything it had), and everything
    the collector answered until it closed the connection."""
    host, port = url.removeprefix("http://").split(":")
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        try:
            conn.sendall(request)
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # it answered (and closed) before taking the whole request: a refusal of a long head
            pass
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_body_that_never_arrives_gets_a_408_and_frees_the_connection(home: Path) -> None:
    server = make_server(Collector.from_env(), "127.0.0.1", 0, timeout=0.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(("127.0.0.1", server.server_port), timeout=10) as conn:
            conn.sendall(b"POST /clickstream HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            answer = b""
            while chunk := conn.recv(65536):  # until the collector closes the connection
                answer += chunk
        assert answer.split(b" ")[1] == b"408" and answer.endswith(b'"the request body did not arrive in time"}')
    finally:
        server.shutdown()
        server.server_close()


_METHODS = st.sampled_from([b"POST", b"GET", b"OPTIONS", b"PUT", b"P\xc3\xb6ST", b"", b"POST POST"])
_PATHS = st.sampled_from([b"/clickstream", b"/clickstream/", b"/clickstream?x=1", b"/", b"*", b"/\xff\x00", b""])
_VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 extra", b"HTTX/1.1", b""])
_LENGTHS = st.one_of(
    st.sampled_from(["", "\u00b2", "\u0661\u0662", "-1", "+2", " 2 ", "2, 2", "1e3", "0x10", "99999999999999999999"]),
    st.integers(min_value=0, max_value=300).map(str),
)
_HEADER_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)


@st.composite
def hostile_requests(draw: st.DrawFn) -> bytes:
    """A request as a hostile or broken client writes it: odd request lines, Unicode digits and conflicting or
    absent lengths, framing headers, junk headers, and a body shorter or longer than it says."""
    head = b" ".join(part for part in (draw(_METHODS), draw(_PATHS), draw(_VERSIONS)) if part)
    headers = [b"Host: x"]
    for length in draw(st.lists(_LENGTHS, max_size=2)):
        headers.append(b"Content-Length: " + length.encode())
    if draw(st.booleans()):
        headers.append(b"Transfer-Encoding: " + draw(st.sampled_from([b"chunked", b"gzip", b"identity", b"\xff"])))
    for name, value in draw(st.lists(st.tuples(_HEADER_TEXT, _HEADER_TEXT), max_size=3)):
        headers.append(name.encode() + b": " + value.encode())
    if draw(st.booleans()):
        headers.append(b"Content-Encoding: " + draw(st.sampled_from([b"gzip", b"br", b"identity"])))
    body = draw(st.one_of(st.binary(max_size=300), st.just(json.dumps(BROWSER_EVENT).encode())))
    return head + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=hostile_requests())
@example(request=b"\r\nHost: x\r\n\r\n")  # a blank request line: http.server closed without an answer
def test_every_hostile_request_over_a_real_socket_gets_an_answer_and_never_a_5xx(
    collector_url: str, request: bytes
) -> None:
    answer = exchange(collector_url, request)
    assert answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")), (request, answer)
    status = int(answer.split(b" ")[1])
    assert 200 <= status < 500, (request, answer)
