"""Serving the registration app: uvicorn with a guard against slow and greedy clients, and the host names it answers.

Why a guard: uvicorn bounds the size of request headers (h11's 16 KiB) but not the *time* to send them. Its
``timeout_keep_alive`` only starts after a response, and any byte received cancels it, so a client that opens a
connection and sends one header byte every few seconds ("slowloris") holds it for ever; ``limit_concurrency`` is
one global count, so a client that fills it locks everyone else out (503). Hypercorn bounds header time but has no
per-client limit either. :func:`guarded_protocol` is a small subclass of uvicorn's own h11 protocol that adds, per
connection, a deadline for the request headers (and for the next request's headers on a kept-alive
connection), a deadline for a whole request, and a cap on simultaneous connections per client address, so one
client can only ever hold its own share. A real uvicorn server with slow clients tests it
(``tests/test_registration_security.py``); the subclass touches only ``connection_made``, ``connection_lost``,
``handle_events`` and ``on_response_complete``, and the request cycle attribute, of ``H11Protocol``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections import Counter
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class ServerLimits:
    """Per-connection and per-client bounds of the registration server."""

    header_timeout_s: float = 10.0  # to send a request's headers (from connecting, or from the last response)
    request_timeout_s: float = 120.0  # for a whole request: body upload, processing and reading the answer
    max_connections_per_client: int = 16


def guarded_protocol(limits: ServerLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol with ``limits`` enforced (one class, hence one per-client count, per server)."""
    per_client: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        """Closes connections whose headers or requests take too long, and a client's connections over its cap."""

        _deadline: asyncio.TimerHandle | None = None
        _client_key: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._client_key = self.client[0] if self.client else "unknown"
            per_client[self._client_key] += 1
            if per_client[self._client_key] > limits.max_connections_per_client:
                log.warning("registration app: %s has over %d connections open; closing the newest",
                            self._client_key, limits.max_connections_per_client)
                transport.close()
                return
            self._arm(limits.header_timeout_s, "send its request headers")

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._client_key is not None:
                per_client[self._client_key] -= 1
                if per_client[self._client_key] <= 0:
                    del per_client[self._client_key]
                self._client_key = None
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not None and self.cycle is not cycle:  # a request's headers are complete
                self._arm(limits.request_timeout_s, "finish its request")

        def on_response_complete(self) -> None:
            self._arm(limits.header_timeout_s, "send its next request")  # a pipelined request re-arms below
            super().on_response_complete()

        def _arm(self, seconds: float, what: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire, seconds, what)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self, seconds: float, what: str) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                log.warning("registration app: closed a connection from %s that took over %g s to %s",
                            self._client_key, seconds, what)
                self.transport.close()

    return GuardedH11Protocol


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _as_host_header(address: str) -> str:
    """An address as it appears in a Host header (IPv6 in brackets, no zone)."""
    address = address.split("%", 1)[0]
    try:
        return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    except ValueError:
        return address.lower()


def local_addresses() -> list[str]:
    """This machine's own addresses and names, as a phone on the same network may reach it (no traffic sent)."""
    found: list[str] = []
    name = socket.gethostname()
    candidates = [name, f"{name}.local"]
    with contextlib.suppress(OSError):
        candidates += [str(info[4][0]) for info in socket.getaddrinfo(name, None)]
    for family, probe in ((socket.AF_INET, ("192.0.2.1", 9)), (socket.AF_INET6, ("2001:db8::1", 9))):
        try:  # the source address the default route would use (a UDP "connect" sends nothing)
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect(probe)
                candidates.append(str(s.getsockname()[0]))
        except OSError:
            pass
    for c in candidates:
        host = _as_host_header(c)
        if host not in found:
            found.append(host)
    return found


def allowed_hosts_for(bind_host: str, extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """The Host header values the app answers when bound to ``bind_host``: loopback names, the bound address (or
    this machine's addresses and names for a wildcard bind), and ``extra`` (e.g. a DNS name)."""
    hosts = list(LOOPBACK_HOSTS)
    if not is_loopback(bind_host):
        if bind_host in ("0.0.0.0", "::", ""):
            hosts += local_addresses()
        else:
            hosts.append(_as_host_header(bind_host))
    hosts += [_as_host_header(h) for h in extra]
    return list(dict.fromkeys(h for h in hosts if h))


def serve(app: Any, host: str, port: int, certfile: str | None = None, keyfile: str | None = None,
          limits: ServerLimits | None = None) -> None:
    """Run ``app`` with uvicorn behind the guard until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, ssl_certfile=certfile, ssl_keyfile=keyfile,
                            log_level="warning", http=guarded_protocol(limits or ServerLimits()),
                            timeout_keep_alive=5, lifespan="off")
    uvicorn.Server(config).run()
