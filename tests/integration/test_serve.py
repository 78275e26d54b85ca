"""The local collector over real HTTP: same handler, same objects as the Lambda."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    ],
)
def test_odd_http_requests_get_a_4xx_answer(collector_url: str, request_head: bytes, status: bytes) -> None:
    assert raw_http(collector_url, request_head).split(b" ")[1] == status
