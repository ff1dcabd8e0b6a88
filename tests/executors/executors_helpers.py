"""Local HTTP servers for the HTTP policy tests: real sockets on loopback addresses, recording what
reached them.

Paths: `/ok` (200 "hello"), `/echo` (the request as JSON), `/redirect?to=URL&code=302`,
`/flaky?key=K&fail=N&status=503&retry_after=V` (answers `status` N times per key, then 200),
`/big?size=N[&chunked=1]`, `/slow?seconds=S`, `/status?code=N`.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Hit:
    method: str
    path: str
    host: str
    at: float
    body: bytes


@dataclass
class Recorder:
    hits: list[Hit] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    most_in_flight: int = 0
    server_names: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]


class _Handler(BaseHTTPRequestHandler):
    recorder: Recorder
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = self.recorder
        with rec.lock:
            rec.hits.append(Hit(self.command, self.path, self.headers.get("Host", ""), time.time(), body))
            rec.in_flight += 1
            rec.most_in_flight = max(rec.most_in_flight, rec.in_flight)
        try:
            self._route(urlsplit(self.path).path, {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()},
                        body)
        finally:
            with rec.lock:
                rec.in_flight -= 1

    def _route(self, path: str, q: dict[str, str], body: bytes) -> None:
        if path == "/ok":
            self._send(200, b"hello")
        elif path == "/echo":
            self._send(200, json.dumps({"method": self.command, "headers": dict(self.headers.items()),
                                        "body": body.decode()}).encode(), "application/json")
        elif path == "/redirect":
            self._send(int(q.get("code", "302")), b"", headers={"Location": q["to"]})
        elif path == "/flaky":
            with self.recorder.lock:
                seen = self.recorder.failures.get(q["key"], 0)
                self.recorder.failures[q["key"]] = seen + 1
            if seen < int(q.get("fail", "1")):
                extra = {"Retry-After": q["retry_after"]} if "retry_after" in q else {}
                self._send(int(q.get("status", "503")), b"busy", headers=extra)
            else:
                self._send(200, f"ok after {seen}".encode())
        elif path == "/big":
            self._big(int(q["size"]), chunked=q.get("chunked") == "1")
        elif path == "/slow":
            time.sleep(float(q["seconds"]))
            self._send(200, b"slow")
        elif path == "/status":
            self._send(int(q["code"]), b"status")
        else:
            self._send(404, b"no such path")

    def _send(self, status: int, body: bytes, content_type: str = "text/plain", headers: dict[str, str] | None = None,
              ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _big(self, size: int, *, chunked: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command == "HEAD":
            return
        sent, piece = 0, b"x" * 65536
        try:
            while sent < size:
                part = piece[: min(len(piece), size - sent)]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                sent += len(part)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.recorder.hits[-1].body = f"stopped after {sent}".encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


@dataclass
class Local:
    host: str
    port: int
    recorder: Recorder

    def url(self, path: str, *, scheme: str = "http", name: str | None = None) -> str:
        host = name or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{scheme}://{host}:{self.port}{path}"


@contextmanager
def serve(host: str = "127.0.0.1", port: int = 0, *, tls: ssl.SSLContext | None = None) -> Iterator[Local]:
    """A threaded HTTP(S) server on `host`, stopped at the end."""
    recorder = Recorder()
    handler = type("Handler", (_Handler,), {"recorder": recorder})
    server = (_Server6 if ":" in host else _Server)((host, port), handler)
    if tls is not None:
        tls.sni_callback = lambda sock, name, ctx: recorder.server_names.append(name)  # type: ignore[assignment,misc]
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Local(host, server.server_address[1], recorder)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def ipv6_loopback() -> bool:
    """::1 can be bound here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def self_signed(name: str, directory: Any) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `name`, and a client context that trusts only it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client
