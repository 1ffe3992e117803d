"""The registration page as a security boundary: Host allowlist, same-origin checks, CSRF-safe content types,
per-client limits nobody can use to lock the user out, image bombs, and a real uvicorn server against slow
clients (slowloris) and connection floods."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import zlib

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from peoplelens.registration_app.enroll import default_analyzer
from peoplelens.registration_app.serve import ServerLimits, allowed_hosts_for, guarded_protocol
from peoplelens.registration_app.store import PeopleStore
from peoplelens.registration_app.web import TOKEN_HEADER, SessionTable, create_app

TOKEN = "a-test-token-of-enough-length"


@pytest.fixture(scope="module")
def analyzer():
    return default_analyzer()


@pytest.fixture()
def store(tmp_path) -> PeopleStore:
    return PeopleStore.open(tmp_path / "people.db")


def _client(app, client=("127.0.0.1", 50000), base_url="http://localhost") -> TestClient:
    return TestClient(app, base_url=base_url, headers={TOKEN_HEADER: TOKEN}, client=client)


def png_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of width x height zeros: a few hundred KiB that decode to width*height*3 bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header claims width x height pixels."""
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_forged_host_headers_are_refused_dns_rebinding(store, analyzer):
    app = create_app(store, token=TOKEN, analyzer=analyzer)
    assert "evil.example" not in app.state.allowed_hosts
    for host in ("localhost", "127.0.0.1:8765", "[::1]:8765"):
        r = _client(app).get("/api/people", headers={"Host": host})
        assert r.status_code == 200, (host, r.text)
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "localhost.", ""):
        r = _client(app).get("/api/people", headers={"Host": host})
        assert r.status_code == 400, host
        assert "people" not in r.text
    lan = create_app(store, host="192.168.1.20", token=TOKEN, analyzer=analyzer)
    assert _client(lan, base_url="http://192.168.1.20:8765").get("/api/people").status_code == 200
    assert _client(lan, base_url="http://attacker.example:8765").get("/api/people").status_code == 400
    assert allowed_hosts_for("0.0.0.0", ["phone-helper.example"])[-1] == "phone-helper.example"


def test_other_sites_cannot_use_the_api_even_with_the_token(store, analyzer):
    client = _client(create_app(store, token=TOKEN, analyzer=analyzer))
    assert client.post("/api/sessions", headers={"Origin": "http://localhost"}).status_code == 200
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Origin": "http://localhost:9999"},
                    {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"}):
        r = client.post("/api/sessions", headers=headers)
        assert r.status_code == 403 and "another site" in r.json()["error"], headers
    # a cross-site form can only send text/plain, urlencoded or multipart bodies: each is refused
    sid = client.post("/api/sessions").json()["session"]
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        r = client.post(f"/api/sessions/{sid}/enroll", content=b'{"name": "Mallory"}', headers={"Content-Type": ctype})
        assert r.status_code == 415, ctype
        r = client.post(f"/api/sessions/{sid}/name-clip", content=b"RIFF....WAVE", headers={"Content-Type": ctype})
        assert r.status_code == 415, ctype
    assert store.people() == []
    # CORS preflights are never granted
    r = client.options("/api/sessions", headers={"Origin": "http://evil.example",
                                                 "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_a_flood_of_sessions_never_locks_out_the_user(store, analyzer):
    app = create_app(store, token=TOKEN, analyzer=analyzer, sessions=SessionTable(max_sessions=8, per_client=3))
    user, attacker = _client(app, ("192.168.1.5", 40000)), _client(app, ("192.168.1.66", 40000))
    mine = user.post("/api/sessions").json()["session"]
    for _ in range(200):
        assert attacker.post("/api/sessions").status_code == 200  # the attacker only ever replaces its own
    assert user.delete(f"/api/sessions/{mine}").status_code == 200
    mine = user.post("/api/sessions").json()["session"]
    for i in range(20):  # many attacker addresses fill the table: the greediest holder's oldest session goes
        _client(app, (f"10.0.0.{i}", 40000)).post("/api/sessions")
        user.get("/api/people")  # the user keeps using the app
        assert user.post(f"/api/sessions/{mine}/photos", content=b"x",
                         headers={"Content-Type": "text/plain"}).status_code == 415  # the session still exists
    assert len(app.state.sessions) <= 8
    assert user.post("/api/sessions").status_code == 200  # never 429


def test_image_bombs_are_refused_before_decoding(store, analyzer):
    client = _client(create_app(store, token=TOKEN, analyzer=analyzer))
    sid = client.post("/api/sessions").json()["session"]
    bomb = png_bomb(20000, 20000)  # 379 KiB that would decode to 1.2 GB
    assert len(bomb) < 500_000
    for data, ctype in ((bomb, "image/png"), (jpeg_claiming(65000, 65000), "image/jpeg"),
                        (jpeg_claiming(30000, 3000), "image/jpeg")):
        t0 = time.perf_counter()
        r = client.post(f"/api/sessions/{sid}/photos", content=data, headers={"Content-Type": ctype})
        assert r.status_code == 415 and "claims" in r.json()["error"], r.text
        assert time.perf_counter() - t0 < 2.0
    assert client.post("/api/sessions", headers={}).status_code == 200


# ---- a real server: slow clients and connection floods ---------------------------------------------------------
@pytest.fixture()
def guarded_server(store, analyzer):
    """The app on a real uvicorn server with short guard limits."""
    app = create_app(store, token=TOKEN, analyzer=analyzer)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    limits = ServerLimits(header_timeout_s=1.0, request_timeout_s=3.0, max_connections_per_client=8)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off",
                                           http=guarded_protocol(limits)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield port
    server.should_exit = True
    thread.join(timeout=5)


def _closed_by_server(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                return True
    except TimeoutError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def _request(port: int, method: str, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"Host": "localhost", TOKEN_HEADER: TOKEN})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def _get_people(port: int) -> int:
    return _request(port, "GET", "/api/people")[0]


def test_slow_headers_are_cut_off_and_the_user_is_still_served(guarded_server):
    port = guarded_server
    slow = []
    for _ in range(6):  # slowloris: headers that never end, one byte now and then
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /api/people HTTP/1.1\r\nHost: localhost\r\n")
        slow.append(s)
    time.sleep(0.5)
    for s in slow:
        s.sendall(b"X")  # a byte resets uvicorn's own keep-alive timer, not the guard's header deadline
    assert _get_people(port) == 200  # the user is served meanwhile
    t0 = time.monotonic()
    assert all(_closed_by_server(s, 3.0) for s in slow), "slow header connections were not closed"
    assert time.monotonic() - t0 < 3.0
    for s in slow:
        s.close()
    # a kept-alive connection that starts a second request and never finishes it is cut off too
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"GET /api/people HTTP/1.1\r\nHost: localhost\r\n{TOKEN_HEADER}: {TOKEN}\r\n\r\n".encode())
        answer = s.recv(65536)
        while b"\r\n\r\n" not in answer:
            answer += s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /api/people HTTP/1.1\r\nHost: loc")
        for _ in range(4):
            time.sleep(0.3)
            s.sendall(b"a")
        assert _closed_by_server(s, 2.0)


def test_slow_bodies_time_out_and_one_client_cannot_take_every_connection(guarded_server):
    port = guarded_server
    sid = _request(port, "POST", "/api/sessions")[1]["session"]
    with socket.create_connection(("127.0.0.1", port)) as s:  # declares 100 KB, sends 10 bytes, then nothing
        s.sendall(f"POST /api/sessions/{sid}/photos HTTP/1.1\r\nHost: localhost\r\n{TOKEN_HEADER}: {TOKEN}\r\n"
                  "Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n\xff\xd8\xff\xe0".encode("latin-1"))
        t0 = time.monotonic()
        assert _closed_by_server(s, 6.0)
        assert time.monotonic() - t0 < 5.0
    flood = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]  # this client's cap
    extra = socket.create_connection(("127.0.0.1", port))
    assert _closed_by_server(extra, 1.0), "a connection over the per-client cap was kept"
    extra.close()
    for s in flood:
        s.close()
    time.sleep(0.2)
    assert _get_people(port) == 200  # the cap is per client and freed when its connections close
