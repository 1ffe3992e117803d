"""Web app and CLI: pairing token, upload limits and type checks, enrolment flow, and no image bytes on disk."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from peoplelens.cli import cli
from peoplelens.registration_app.enroll import default_analyzer
from peoplelens.registration_app.errors import InsecureBindError
from peoplelens.registration_app.store import PeopleStore
from peoplelens.registration_app.web import TOKEN_HEADER, create_app

# ---- recording every file opened for writing (audit hooks cannot be removed, so one hook switched on/off) ---
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_recorder: dict = {"on": False, "writes": []}
_recorder_lock = threading.Lock()


def _audit(event: str, args: tuple) -> None:
    if event != "open" or not _recorder["on"]:
        return
    path, mode, flags = (list(args) + [None, None, None])[:3]
    writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
        mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
    if writing and not isinstance(path, int):
        with _recorder_lock:
            _recorder["writes"].append(str(path))


sys.addaudithook(_audit)


class record_writes:  # noqa: N801 - used as a context manager
    """Collect the paths Python opens for writing inside the block."""

    def __enter__(self) -> list[str]:
        _recorder["writes"] = []
        _recorder["on"] = True
        return _recorder["writes"]

    def __exit__(self, *exc) -> None:
        _recorder["on"] = False


def _not_store_sidecars(writes: list[str], store_path: Path) -> list[str]:
    """The writes that are not the store's own lock, generation record or key (each written via a temp file)."""
    names = {store_path.name + suffix for suffix in (".lock", ".generation", ".key")}
    return [w for w in writes if Path(w).parent != store_path.parent
            or not (Path(w).name in names or any(Path(w).name.startswith(f".{n}.tmp-") for n in names))]


IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"JFIF", b"Exif")


def _files_with_image_bytes(root: Path) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(m in data for m in IMAGE_MAGIC):
                hits.append(path)
    return hits


@pytest.fixture(scope="module")
def analyzer():
    return default_analyzer()


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Route Python's temp files into the test dir so the scan below sees any spooled upload."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TMPDIR", str(tmp))
    return tmp


def _client(store: PeopleStore, analyzer, **kw) -> TestClient:
    """A client of the app that carries its launch token, as the page opened from register-app's address does."""
    app = create_app(store, analyzer=analyzer, **kw)
    return TestClient(app, base_url="http://localhost", headers={TOKEN_HEADER: app.state.token})


def test_enrolment_through_the_app_writes_no_image_bytes(tmp_path, private_tmp, data_dir, analyzer):
    store = PeopleStore.open(tmp_path / "store" / "people.db")
    client = _client(store, analyzer)
    photos = sorted((data_dir / "faces/enroll/john_simm").glob("*.jpg"))[:4]
    big = (data_dir / "faces/enroll/barack_obama/fr_03.jpg").read_bytes()  # > 1 MB decoded, 2333x1434 photo
    with record_writes() as writes:
        sid = client.post("/api/sessions").json()["session"]
        for p in photos:
            r = client.post(f"/api/sessions/{sid}/photos", content=p.read_bytes(),
                            headers={"Content-Type": "image/jpeg"})
            assert r.status_code == 200, r.text
            assert r.json()["photo"]["ok"] and r.json()["photo"]["pose"] == "frontal"
        r = client.post(f"/api/sessions/{sid}/photos", content=big, headers={"Content-Type": "image/jpeg"})
        assert r.status_code == 200 and r.json()["summary"]["n_good"] == 5
        report = client.post(f"/api/sessions/{sid}/enroll", json={"name": "John Simm"}).json()
    # the big photo shows someone else (Obama): it passes the per-photo checks but not the agreement with the others
    assert report["enrolled"] and report["n_used"] == 4 and report["name_audio"] == "espeak-ng"
    assert [r["photo"] for r in report["rejected"]] == [4]
    assert "does not look like the other photos of John Simm" in report["rejected"][0]["reasons"][0]
    assert report["pose_bins_done"] == ["frontal"]
    assert _not_store_sidecars(writes, store.path) == [], f"files opened for writing during enrolment: {writes}"
    assert not any(Path(w).name.startswith("people.db.key") for w in writes)  # the key already existed
    assert _files_with_image_bytes(tmp_path) == []
    assert client.post(f"/api/sessions/{sid}/photos", content=big,
                       headers={"Content-Type": "image/jpeg"}).status_code == 404  # session discarded
    assert client.get("/api/people").json()["people"][0]["name"] == "John Simm"
    blob = store.path.read_bytes()
    g = store.gallery()
    for v in g.vectors:
        assert v.astype("<f4").tobytes()[:32] not in blob


def test_cli_enrolment_writes_no_image_bytes(tmp_path, private_tmp, data_dir, analyzer):
    photos = [str(p) for p in sorted((data_dir / "faces/enroll/bbt_raj").glob("*.jpg"))]
    store_path = tmp_path / "cli" / "people.db"
    with record_writes() as writes:
        result = CliRunner().invoke(cli, ["enroll", "Raj", *photos, "--store", str(store_path)])
    assert result.exit_code == 0, result.output
    assert "enrolled Raj from 4 photo(s)" in result.output
    assert _not_store_sidecars(writes, store_path) == []  # only the new secret, the lock and the generation record
    assert any(Path(w).name.startswith(".people.db.key.tmp-") for w in writes)
    assert _files_with_image_bytes(tmp_path) == []
    listed = CliRunner().invoke(cli, ["people", "list", "--store", str(store_path)])
    assert "Raj\t4 vector(s)" in listed.output


def test_uploads_are_size_capped_and_type_checked(tmp_path, analyzer, data_dir):
    store = PeopleStore.open(tmp_path / "people.db")
    client = _client(store, analyzer, max_photo_bytes=200_000)
    sid = client.post("/api/sessions").json()["session"]
    url = f"/api/sessions/{sid}/photos"
    jpeg = {"Content-Type": "image/jpeg"}
    r = client.post(url, content=b"\xff\xd8\xff" + b"\0" * 300_000, headers=jpeg)
    assert r.status_code == 413 and "limit" in r.json()["error"]
    r = client.post(url, content=(b"\xff\xd8\xff" + b"\0" * 50_000 for _ in range(6)), headers=jpeg)  # chunked
    assert r.status_code == 413
    r = client.post(url, content=b"%PDF-1.4 not an image", headers=jpeg)
    assert r.status_code == 415 and "not a JPEG, PNG or WebP" in r.json()["error"]
    r = client.post(url, content=b"\xff\xd8\xff\xe0 truncated jpeg", headers=jpeg)
    assert r.status_code == 415 and "not a usable image" in r.json()["error"]
    r = client.post(url, content=b"", headers=jpeg)
    assert r.status_code == 400 and "empty" in r.json()["error"]
    photo = (data_dir / "faces/enroll/bbt_amy/amy1.jpg").read_bytes()
    r = client.post(url, files={"file": ("a.jpg", photo, "image/jpeg")})  # multipart is refused
    assert r.status_code == 415 and "raw body" in r.json()["error"]
    no_face = client.post(url, content=_grey_jpeg(), headers=jpeg).json()
    assert not no_face["photo"]["ok"] and "no face found" in no_face["photo"]["messages"][0]
    r = client.post(f"/api/sessions/{sid}/enroll", json={"name": "Nobody"}).json()
    assert not r["enrolled"] and "no usable photo" in r["message"]
    assert store.people() == []
    assert client.post("/api/sessions/nope/photos", content=photo, headers=jpeg).status_code == 404


def _grey_jpeg() -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.full((240, 320, 3), 120, np.uint8))
    return buf.tobytes()


def test_every_bind_needs_the_pairing_token(tmp_path, analyzer):
    store = PeopleStore.open(tmp_path / "people.db")
    with pytest.raises(InsecureBindError, match="at least"):
        create_app(store, host="0.0.0.0", token="short", analyzer=analyzer)
    for host in ("127.0.0.1", "::1", "0.0.0.0", "192.168.1.20"):
        app = create_app(store, host=host, analyzer=analyzer)  # a fresh random token when none is given
        assert len(app.state.token) >= 16
        client = TestClient(app, base_url="http://localhost")
        assert client.get("/").status_code == 200 and "getUserMedia" in client.get("/").text
        r = client.get("/api/people")
        assert r.status_code == 401 and "pairing token" in r.json()["error"]
        assert client.post("/api/sessions", headers={TOKEN_HEADER: "wrong"}).status_code == 401
        assert client.post(f"/api/sessions?token={app.state.token}").status_code == 401  # the header only
        assert client.get("/api/people", headers={TOKEN_HEADER: app.state.token}).status_code == 200
    token = "s3cret-token-of-22chars"
    client = TestClient(create_app(store, host="0.0.0.0", token=token, analyzer=analyzer), base_url="http://localhost")
    assert client.post("/api/sessions", headers={TOKEN_HEADER: token}).status_code == 200


def test_write_recorder_sees_python_writes(tmp_path):
    """The audit-hook recorder used above does catch writes (open() and os.open / tempfile)."""
    with record_writes() as writes:
        (tmp_path / "a.bin").write_bytes(b"x")
        with tempfile.NamedTemporaryFile(dir=tmp_path):
            pass
        (tmp_path / "a.bin").read_bytes()  # reading is not recorded
    assert writes[0] == str(tmp_path / "a.bin")
    assert any(Path(w).parent == tmp_path and w != writes[0] for w in writes[1:])  # the temp file
