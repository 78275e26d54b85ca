"""Local collector: plain HTTP on a laptop, handled exactly as API Gateway + the ingest Lambda would."""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loader import logs
from loader.contract import MAX_REQUEST_BYTES
from loader.ingest import Collector

ROUTE = "/clickstream"
SOCKET_TIMEOUT_SECONDS = 10  # a client that stops sending (a slow or short body) gets a 408, not a thread forever
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() takes "²", which int() refuses
_JSON = {"content-type": "application/json"}


class BadRequest(Exception):
    """A request the collector refuses before reading its body: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def content_length(headers: Any) -> int:
    """The body's length, from a request's headers (an ``http.client.HTTPMessage``). Refused: a body framed any
    other way (Transfer-Encoding, which API Gateway would not pass on either) and a length that is not one plain
    decimal number (several differing ones are how requests are smuggled past a proxy)."""
    if headers.get_all("Transfer-Encoding"):
        raise BadRequest(411, "send a Content-Length, not a Transfer-Encoding")
    values = {value.strip() for value in headers.get_all("Content-Length") or []}
    if not values:
        return 0
    if len(values) > 1:
        raise BadRequest(400, "conflicting Content-Length headers")
    (value,) = values
    if _CONTENT_LENGTH.fullmatch(value) is None:
        raise BadRequest(400, "invalid Content-Length: not a decimal number of bytes")
    return int(value)


def apigw_event(method: str, path: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event for one request."""
    now = datetime.now(UTC)
    raw_path, _, query = path.partition("?")
    return {
        "version": "2.0",
        "routeKey": f"{method} {ROUTE}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "apiId": "local",
            "domainName": "localhost",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {ROUTE}",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


def make_server(
    collector: Collector, host: str, port: int, *, timeout: float = SOCKET_TIMEOUT_SECONDS
) -> ThreadingHTTPServer:
    socket_timeout = timeout

    class Handler(BaseHTTPRequestHandler):
        server_version = "clickstream-collector"
        default_request_version = "HTTP/1.0"  # every answer has a status line (HTTP/0.9's have none)
        timeout = socket_timeout  # seconds a read or write on the socket may wait

        def _dispatch(self) -> None:
            try:
                self._answer()
            except TimeoutError:
                self.close_connection = True
                self._reply(408, _JSON, b'{"error": "the request body did not arrive in time"}')
            except Exception:  # a bug must not cost the client its answer (the collector logs its own errors)
                self.close_connection = True
                self._reply(500, _JSON, b'{"error": "internal error"}')

        def _answer(self) -> None:
            if self.path.partition("?")[0].rstrip("/") != ROUTE:
                self._reply(404, _JSON, b'{"error": "not found; POST /clickstream"}')
                return
            try:
                length = content_length(self.headers)
            except BadRequest as refused:
                self.close_connection = True  # the body's end is unknown: the connection cannot carry another
                self._reply(refused.status, _JSON, json.dumps({"error": str(refused)}).encode())
                return
            if length > MAX_REQUEST_BYTES * 2:  # the collector answers 413; do not buffer arbitrary bodies
                self.close_connection = True
                body = b"x" * (MAX_REQUEST_BYTES + 1)
            else:
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    self.close_connection = True
                    self._reply(400, _JSON, b'{"error": "the body is shorter than its Content-Length"}')
                    return
            event = apigw_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
            response = collector.handle_apigw(event)
            self._reply(response["statusCode"], response["headers"], response["body"].encode("utf-8"))

        def parse_request(self) -> bool:
            """http.server closes without a word on a blank request line: answer it 400 like any other bad one."""
            if self.raw_requestline.strip():
                return super().parse_request()
            self.command, self.requestline, self.request_version = "", "", self.default_request_version
            self.close_connection = True
            self.send_error(400, "empty request line")
            return False

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """http.server's own refusals (request line, headers); an HTTP version it does not speak is the
            client's error too: 400, as API Gateway answers it."""
            super().send_error(400 if code == 505 else code, message, explain)

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def __getattr__(self, name: str) -> Any:  # every method reaches the collector, which answers 405
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:  # the collector logs one JSON line itself
            pass

    return _Server((host, port), Handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds the collector open at exit

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer: one log line, not a traceback on the console."""
        error = sys.exc_info()[1]
        logs.log("request failed", level=logging.WARNING, error=f"{type(error).__name__}: {error}")
