"""Local collector: plain HTTP on a laptop, handled exactly as API Gateway + the ingest Lambda would."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from loader.contract import MAX_REQUEST_BYTES
from loader.ingest import Collector

ROUTE = "/clickstream"


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


def make_server(collector: Collector, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "clickstream-collector"

        def _dispatch(self) -> None:
            if self.path.partition("?")[0].rstrip("/") != ROUTE:
                self._reply(404, {"content-type": "application/json"}, b'{"error": "not found; POST /clickstream"}')
                return
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                self._reply(411, {"content-type": "application/json"}, b'{"error": "send a Content-Length"}')
                return
            length_header = (self.headers.get("Content-Length") or "0").strip()
            if not length_header.isdigit():
                self.close_connection = True
                self._reply(400, {"content-type": "application/json"}, b'{"error": "invalid Content-Length"}')
                return
            length = int(length_header)
            if length > MAX_REQUEST_BYTES * 2:  # the collector answers 413; do not buffer arbitrary bodies
                self.close_connection = True
                body = b"x" * (MAX_REQUEST_BYTES + 1)
            else:
                body = self.rfile.read(length) if length else b""
            event = apigw_event(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
            response = collector.handle_apigw(event)
            self._reply(response["statusCode"], response["headers"], response["body"].encode("utf-8"))

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

    return ThreadingHTTPServer((host, port), Handler)
