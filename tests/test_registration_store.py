"""People store: protection math on real face embeddings, tamper evidence, forget, secrets, export/import."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from peoplelens.registration_app.enroll import assess_photo, default_analyzer
from peoplelens.registration_app.errors import (
    ExportError,
    PersonNotFoundError,
    StoreError,
    StoreTamperedError,
    WrongSecretError,
)
from peoplelens.registration_app.secret import write_secret
from peoplelens.registration_app.store import PeopleStore

PEOPLE = ("john_salley", "john_simm", "bbt_penny", "kit_harington")


@pytest.fixture(scope="module")
def raw_embeddings(data_dir: Path) -> dict[str, np.ndarray]:
    """Raw ArcFace embeddings of real enrolment photos of a few people."""
    analyzer = default_analyzer()
    out = {}
    for person in PEOPLE:
        vecs = [assess_photo(p, analyzer).embedding for p in sorted((data_dir / "faces/enroll" / person).glob("*.jpg"))]
        out[person] = np.stack([v for v in vecs if v is not None])
    return out


def _store(tmp_path: Path, name: str, secret: bytes | None = None) -> PeopleStore:
    path = tmp_path / name / "people.db"
    if secret is not None:
        write_secret(path.with_name("people.db.key"), secret)
    return PeopleStore.open(path)


def test_protection_keeps_cosines_and_hides_raw_vectors(tmp_path, raw_embeddings):
    a = _store(tmp_path, "a", bytes(range(32)))
    b = _store(tmp_path, "b", bytes(range(32, 64)))
    raw = np.concatenate(list(raw_embeddings.values()))
    pa, pb = a.protect(raw), b.protect(raw)
    assert pa.shape == raw.shape and np.allclose(np.linalg.norm(pa, axis=1), 1, atol=1e-5)
    # protected-vs-protected cosine equals raw-vs-raw cosine
    np.testing.assert_allclose(pa @ pa.T, raw @ raw.T, atol=1e-5)
    # a protected vector does not match the raw embedding of the same face, nor another installation's vector
    assert np.max(np.abs(np.sum(pa * raw, axis=1))) < 0.3
    assert np.max(np.abs(np.sum(pa * pb, axis=1))) < 0.3
    same_person = raw_embeddings["john_salley"]
    assert np.min(same_person @ same_person.T) > 0.35  # the raw vectors do match each other
    # a fresh random secret gives yet another transform
    c = PeopleStore.open(tmp_path / "c.db")
    assert not np.allclose(c.protect(raw[:1]), pa[:1], atol=1e-3)


def test_secret_file_is_private_and_wrong_secret_is_refused(tmp_path, raw_embeddings):
    store = _store(tmp_path, "s")
    store.enroll("John Salley", raw_embeddings["john_salley"])
    key = store.path.with_name("people.db.key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == 32
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    other = tmp_path / "other.key"
    write_secret(other)
    with pytest.raises(WrongSecretError, match="another installation secret"):
        PeopleStore.open(store.path, secret_path=other)
    key.unlink()
    with pytest.raises(WrongSecretError, match="missing"):
        PeopleStore.open(store.path)
    not_a_db = tmp_path / "junk.db"
    not_a_db.write_bytes(b"hello, not sqlite" * 100)
    write_secret(tmp_path / "junk.db.key")
    with pytest.raises(StoreError, match="not a PeopleLens store"):
        PeopleStore.open(not_a_db)


def test_store_never_contains_raw_or_protected_vectors_in_clear(tmp_path, raw_embeddings):
    store = _store(tmp_path, "c")
    vecs = raw_embeddings["john_simm"]
    store.enroll("John Simm", vecs)
    blob = store.path.read_bytes()
    for v in list(vecs) + list(store.protect(vecs)):
        assert v.astype("<f4").tobytes()[:32] not in blob
    assert b"John Simm" not in blob
    g = store.gallery()
    assert g.names == ["John Simm"] and g.vectors.shape == vecs.shape and list(g.owner) == [0] * len(vecs)


def _tamper(path: Path, sql: str, *params) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


@pytest.fixture()
def two_people(tmp_path, raw_embeddings) -> PeopleStore:
    store = _store(tmp_path, "t")
    store.enroll("John Salley", raw_embeddings["john_salley"])
    store.enroll("Penny", raw_embeddings["bbt_penny"])
    return store


def _rows(path: Path) -> list[tuple[int, bytes, bytes]]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT id, nonce, payload FROM people ORDER BY id").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize("attack", ["flip_byte", "truncate", "delete_row", "swap_payloads", "add_row",
                                    "replay_old_row", "manifest"])
def test_tampered_store_is_refused_and_unchanged(two_people, raw_embeddings, attack):
    path = two_people.path
    (id1, n1, p1), (id2, n2, p2) = _rows(path)
    if attack == "flip_byte":
        bad = bytearray(p1)
        bad[len(bad) // 2] ^= 0x01
        _tamper(path, "UPDATE people SET payload = ? WHERE id = ?", bytes(bad), id1)
    elif attack == "truncate":
        _tamper(path, "UPDATE people SET payload = ? WHERE id = ?", p1[:-40], id1)
    elif attack == "delete_row":
        _tamper(path, "DELETE FROM people WHERE id = ?", id2)
    elif attack == "swap_payloads":
        _tamper(path, "UPDATE people SET nonce = ?, payload = ? WHERE id = ?", n2, p2, id1)
        _tamper(path, "UPDATE people SET nonce = ?, payload = ? WHERE id = ?", n1, p1, id2)
    elif attack == "add_row":
        _tamper(path, "INSERT INTO people VALUES (?, ?, ?)", 99, n1, p1)
    elif attack == "replay_old_row":  # put back Penny's payload from before she got more vectors
        two_people.enroll("Penny", raw_embeddings["bbt_penny"][:1])
        _tamper(path, "UPDATE people SET nonce = ?, payload = ? WHERE id = ?", n2, p2, id2)
    elif attack == "manifest":
        _tamper(path, "UPDATE meta SET value = ? WHERE key = 'manifest'", b"\x00" * 64)
    before = path.read_bytes()
    for action in (lambda s: s.people(), lambda s: s.gallery(), lambda s: s.forget("Penny"),
                   lambda s: s.enroll("Someone", raw_embeddings["john_simm"])):
        with pytest.raises(StoreTamperedError, match="refused|fails authentication"):
            action(two_people)
    with pytest.raises(StoreTamperedError):
        PeopleStore.open(path)
    assert path.read_bytes() == before  # nothing was changed


def test_forget_leaves_no_trace(two_people, raw_embeddings):
    path = two_people.path
    penny_row = next(r for r in _rows(path) if r[0] == 2)
    two_people.set_name_audio("Penny", np.sin(np.linspace(0, 400, 16000)) * 0.5, 16000)
    penny_row_audio = next(r for r in _rows(path) if r[0] == 2)
    two_people.forget("penny")
    assert [p.name for p in two_people.people()] == ["John Salley"]
    files = [p for p in path.parent.iterdir() if p.name.startswith("people.db") and not p.name.endswith(".key")]
    blob = b"".join(p.read_bytes() for p in files)  # db, and any -wal / -journal left behind
    for row in (penny_row, penny_row_audio):
        for chunk in (row[1], row[2][:32], row[2][len(row[2]) // 2 :][:32], row[2][-32:]):
            assert chunk not in blob
    assert b"Penny" not in blob
    with pytest.raises(PersonNotFoundError):
        two_people.forget("Penny")
    with pytest.raises(PersonNotFoundError):
        two_people.name_audio("Penny")


def test_enroll_rename_audio_and_bad_input(tmp_path, raw_embeddings):
    store = _store(tmp_path, "r")
    first = store.enroll("  John   Salley ", raw_embeddings["john_salley"][:2])
    again = store.enroll("john salley", raw_embeddings["john_salley"][2:])
    assert first.person_id == again.person_id and again.name == "John Salley"
    assert again.n_vectors == len(raw_embeddings["john_salley"])
    store.enroll("Kit", raw_embeddings["kit_harington"])
    with pytest.raises(StoreError, match="already enrolled"):
        store.rename("Kit", "JOHN SALLEY")
    assert store.rename("kit", "Kit Harington").name == "Kit Harington"
    assert store.name_audio("Kit Harington") is None
    tone = (np.sin(np.linspace(0, 200, 8000)) * 0.5).astype(np.float32)
    store.set_name_audio("Kit Harington", tone, 16000)
    pcm, rate = store.name_audio("kit harington")
    assert rate == 16000 and np.max(np.abs(pcm - tone)) < 1e-4
    for bad in (np.zeros((1, 128)), np.ones((2, 64)), np.full((1, 128), np.nan), np.zeros((0, 128))):
        with pytest.raises(StoreError):
            store.enroll("Bad", bad)
    for bad_name in ("", "   ", "x" * 81, "tab\x07bell"):
        with pytest.raises(StoreError):
            store.enroll(bad_name, raw_embeddings["john_simm"])
    assert [p.name for p in store.people()] == ["John Salley", "Kit Harington"]


def test_export_import_round_trip_between_installations(tmp_path, raw_embeddings, data_dir):
    phone = _store(tmp_path, "phone")
    phone.enroll("John Salley", raw_embeddings["john_salley"])
    phone.enroll("Penny", raw_embeddings["bbt_penny"])
    phone.set_name_audio("Penny", np.full(1000, 0.25, np.float32), 22050)
    export = tmp_path / "people.plx"
    assert phone.export_encrypted(export, "correct horse battery") == 2
    blob = export.read_bytes()
    assert b"Penny" not in blob
    for v in raw_embeddings["bbt_penny"]:
        assert v.astype("<f4").tobytes()[:32] not in blob
    device = _store(tmp_path, "device")
    with pytest.raises(ExportError, match="wrong passphrase"):
        device.import_encrypted(export, "wrong horse battery")
    damaged = tmp_path / "damaged.plx"
    damaged.write_bytes(blob[:-10])
    with pytest.raises(ExportError):
        device.import_encrypted(damaged, "correct horse battery")
    with pytest.raises(ExportError, match="at least"):
        phone.export_encrypted(tmp_path / "x.plx", "short")
    with pytest.raises(ExportError, match="cannot write export file .*no_such_folder"):
        phone.export_encrypted(tmp_path / "no_such_folder" / "x.plx", "correct horse battery")
    assert export.read_bytes() == blob and not list(tmp_path.glob(".*.tmp*"))  # nothing half-written
    assert device.people() == []
    imported = device.import_encrypted(export, "correct horse battery")
    assert [p.name for p in imported] == ["John Salley", "Penny"]
    assert device.name_audio("Penny")[1] == 22050
    # the device recognises a held-out probe photo of John Salley with its own transform
    probe = assess_photo(sorted((data_dir / "faces/probe/john_salley").glob("*.jpg"))[0]).embedding
    name, score = device.gallery().best_match(device.protect(probe))[0]
    assert name == "John Salley" and score > 0.5
    # vectors were re-protected: the device's gallery differs from the phone's, cosines are the same
    gp, gd = phone.gallery(), device.gallery()
    assert np.max(np.abs(np.sum(gp.vectors * gd.vectors, axis=1))) < 0.5
    np.testing.assert_allclose(gp.vectors @ gp.vectors.T, gd.vectors @ gd.vectors.T, atol=1e-5)
    assert os.stat(export).st_mode & 0o077 == 0
