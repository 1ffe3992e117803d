"""The people store under bad luck and attack: a truncated, deleted or older people.db, concurrent first opens
from real processes, a crash while the key was written, weak export passphrases, and hostile import files
(bounded key derivation, every field validated; property-based fuzzing with Hypothesis).

The vectors here are random unit vectors (seeded): what is tested is the store's bookkeeping, which does not
depend on what the vectors encode (test_registration_store.py covers recognition on real faces)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peoplelens.cli import cli
from peoplelens.registration_app.crypto import passphrase_key, seal
from peoplelens.registration_app.errors import (
    ExportError,
    StoreError,
    StoreLostError,
    StoreRolledBackError,
)
from peoplelens.registration_app.sidecar import GenerationFile
from peoplelens.registration_app.store import PeopleStore
from peoplelens.registration_app.transfer import EXPORT_MAGIC, parse_content, parse_header

PASSPHRASE = "correct horse battery"
PEOPLELENS = Path(sys.executable).parent / "peoplelens"  # the installed entry point (prints errors, no traceback)
RNG = np.random.default_rng(7)


def _vectors(n: int = 3) -> np.ndarray:
    v = RNG.standard_normal((n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def two_people(tmp_path) -> PeopleStore:
    store = PeopleStore.open(tmp_path / "store" / "people.db")
    store.enroll("Ada", _vectors())
    store.enroll("Ben", _vectors())
    return store


def _files(store: PeopleStore) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in store.path.parent.iterdir() if p.is_file() and p.suffix != ".lock"}


def test_a_truncated_or_deleted_store_is_refused_never_taken_as_new(two_people):
    path = two_people.path
    good = path.read_bytes()
    path.write_bytes(b"")
    before = _files(two_people)
    with pytest.raises(StoreLostError, match="empty"):
        PeopleStore.open(path)
    result = subprocess.run([str(PEOPLELENS), "people", "list", "--store", str(path)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "empty" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(StoreError):
        two_people.people()  # the open store refuses it too
    assert _files(two_people) == before  # nothing was created or changed
    path.unlink()
    with pytest.raises(StoreLostError, match="missing"):
        PeopleStore.open(path)
    assert not path.exists()
    path.write_bytes(good)  # the backup put back: everyone is there again
    assert [p.name for p in PeopleStore.open(path).people()] == ["Ada", "Ben"]


def test_an_older_copy_is_refused_so_a_forgotten_person_stays_forgotten(two_people):
    path = two_people.path
    older = path.read_bytes()
    two_people.forget("Ben")
    newest = path.read_bytes()
    path.write_bytes(older)
    with pytest.raises(StoreRolledBackError, match="older copy"):
        PeopleStore.open(path)
    for action in (two_people.people, two_people.gallery, lambda: two_people.enroll("Cy", _vectors())):
        with pytest.raises(StoreRolledBackError):
            action()
    assert path.read_bytes() == older  # refused before anything was written
    path.write_bytes(newest)
    assert [p.name for p in PeopleStore.open(path).people()] == ["Ada"]
    path.write_bytes(older)  # restored on purpose: accept-copy brings the older copy (and Ben) back
    result = CliRunner().invoke(cli, ["people", "accept-copy", "--yes", "--store", str(path)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in PeopleStore.open(path).people()] == ["Ada", "Ben"]


def test_a_missing_or_damaged_generation_record_is_refused(two_people):
    record = GenerationFile(two_people.path).path
    record.unlink()
    with pytest.raises(StoreRolledBackError, match="generation record"):
        PeopleStore.open(two_people.path)
    record.write_text("{not json")
    with pytest.raises(StoreError, match="damaged"):
        PeopleStore.open(two_people.path)
    assert PeopleStore.accept_copy(two_people.path) == 3  # created (1) + two enrolments
    assert len(PeopleStore.open(two_people.path).people()) == 2


def test_a_crash_while_the_key_was_written_does_not_block_enrolment(tmp_path):
    path = tmp_path / "people.db"
    key = tmp_path / "people.db.key"
    key.write_bytes(b"")  # what an older version left when it crashed while writing the key
    key.chmod(0o600)
    (tmp_path / ".people.db.key.tmp-123-abcd").write_bytes(b"half")  # a crashed atomic write
    store = PeopleStore.open(path)
    store.enroll("Ada", _vectors())
    assert len(key.read_bytes()) == 32 and not list(tmp_path.glob(".people.db.key.tmp-*"))
    # a crash of this version between writing the key and the store: the next open finishes the creation
    other = tmp_path / "b" / "people.db"
    other.parent.mkdir()
    GenerationFile(other).write(0)
    (other.parent / "people.db.key").write_bytes(os.urandom(32))
    (other.parent / "people.db.key").chmod(0o600)
    assert PeopleStore.open(other).people() == []
    # but a damaged key of a store that holds people is never replaced
    key.write_bytes(b"\0" * 5)
    with pytest.raises(StoreError, match="damaged"):
        PeopleStore.open(path)


_WORKER = """
import sys, time, numpy as np
from pathlib import Path
from peoplelens.registration_app.store import PeopleStore
path, go, i = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
while not go.exists():
    time.sleep(0.001)
store = PeopleStore.open(path)
v = np.random.default_rng(i).standard_normal((2, 128))
store.enroll(f"Person {i}", v / np.linalg.norm(v, axis=1, keepdims=True))
store.enroll("Shared", v[:1] / np.linalg.norm(v[:1]))
print("ok", i)
"""


def test_concurrent_first_opens_and_writes_from_real_processes(tmp_path):
    path, go = tmp_path / "store" / "people.db", tmp_path / "go"
    n = 6
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(path), str(go), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(n)]
    time.sleep(2.0)  # every process imported and is waiting
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    store = PeopleStore.open(path)
    people = {p.name: p.n_vectors for p in store.people()}
    assert people == {**{f"Person {i}": 2 for i in range(n)}, "Shared": n}
    assert GenerationFile(path).read() == 1 + 2 * n  # every write counted once, in order
    leftovers = [p.name for p in path.parent.iterdir() if ".tmp-" in p.name]
    assert leftovers == [] and len((path.parent / "people.db.key").read_bytes()) == 32


def test_weak_export_passphrases_are_refused(two_people, tmp_path):
    for weak in ("password", "peoplelens2024", "12345678", "qwertyuiop", "Ada12345"):
        with pytest.raises(ExportError, match="too easy to guess|at least"):
            two_people.export_encrypted(tmp_path / "x.plx", weak)
    assert not (tmp_path / "x.plx").exists()
    assert two_people.export_encrypted(tmp_path / "x.plx", PASSPHRASE) == 2


def _export_file(tmp_path: Path, content: object, header: dict | None = None, name: str = "crafted.plx") -> Path:
    """An export file with any content, correctly encrypted under PASSPHRASE (a small scrypt cost, for speed)."""
    header = header or {"format": 1, "kdf": "scrypt", "n": 2**14, "r": 8, "p": 1, "salt": b"s" * 16, "dim": 128}
    hb = msgpack.packb(header)
    key = passphrase_key(PASSPHRASE, header["salt"], header["n"], header["r"], header["p"])
    nonce, sealed = seal(key, msgpack.packb(content), EXPORT_MAGIC + hb)
    path = tmp_path / name
    path.write_bytes(EXPORT_MAGIC + len(hb).to_bytes(4, "big") + hb + nonce + sealed)
    return path


def test_import_bounds_the_key_derivation_before_any_work(two_people, tmp_path):
    base = {"format": 1, "kdf": "scrypt", "salt": b"s" * 16, "dim": 128}
    for params in ({"n": 2**30, "r": 8, "p": 1}, {"n": 2**20, "r": 8, "p": 1}, {"n": 2**15, "r": 1000, "p": 1},
                   {"n": 2**15, "r": 8, "p": 2**20}, {"n": 3 * 2**14, "r": 8, "p": 1}, {"n": 2, "r": 1, "p": 1}):
        hb = msgpack.packb({**base, **params})
        path = tmp_path / "hostile.plx"
        path.write_bytes(EXPORT_MAGIC + len(hb).to_bytes(4, "big") + hb + b"\0" * 64)
        t0 = time.process_time()
        with pytest.raises(ExportError):
            two_people.import_encrypted(path, PASSPHRASE)
        assert time.process_time() - t0 < 0.5, params
    assert [p.name for p in two_people.people()] == ["Ada", "Ben"]


def _record(**change) -> dict:
    rec = {"name": "Cy", "created": 1.7e9, "vectors": _vectors(2).astype("<f4").tobytes(), "audio": None, "sr": None}
    rec.update(change)
    return rec


@pytest.mark.parametrize("change", [
    {"vectors": b"\0" * 100}, {"vectors": np.zeros((1, 128), "<f4").tobytes()},
    {"vectors": np.full((1, 128), np.nan, "<f4").tobytes()}, {"vectors": "not bytes"}, {"name": ""},
    {"name": "x" * 500}, {"name": "bell\x07"}, {"name": 7}, {"created": "yesterday"}, {"created": float("inf")},
    {"audio": b"\0\0" * 100}, {"audio": b"\0" * 3, "sr": 16000}, {"sr": 1}, {"dim": 64},
])
def test_import_validates_every_record_before_changing_anything(two_people, tmp_path, change):
    before = two_people.path.read_bytes()
    path = _export_file(tmp_path, {"people": [_record(name="Good"), _record(**change)]})
    with pytest.raises(ExportError, match="refused|damaged"):
        two_people.import_encrypted(path, PASSPHRASE)
    assert two_people.path.read_bytes() == before


def test_a_crafted_but_valid_export_imports(two_people, tmp_path):
    path = _export_file(tmp_path, {"people": [_record(), _record(name="Ada", audio=b"\1\0" * 800, sr=16000)]})
    assert [p.name for p in two_people.import_encrypted(path, PASSPHRASE)] == ["Cy", "Ada"]
    assert two_people.name_audio("Ada")[1] == 16000


# ---- property-based fuzzing of the export format ----------------------------------------------------------------
_values = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=True),
                    st.text(max_size=20), st.binary(max_size=64), st.lists(st.integers(-2**63, 2**63), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_any_bytes_as_an_export_file_header(data):
    for blob in (data, EXPORT_MAGIC + data):
        try:
            header, _hb, _body = parse_header(blob)
        except ExportError:
            continue
        assert header.n * header.r * header.p <= 8 * 2**18 and header.n & (header.n - 1) == 0


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["format", "kdf", "n", "r", "p", "salt", "dim", "other"]), _values))
def test_fuzz_export_header_fields(fields):
    hb = msgpack.packb(fields)
    try:
        parse_header(EXPORT_MAGIC + len(hb).to_bytes(4, "big") + hb + b"\0" * 40)
    except ExportError:
        return
    assert fields["kdf"] == "scrypt" and 2**14 <= fields["n"] <= 2**20 and fields["dim"] == 128


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["name", "created", "vectors", "audio", "sr", "dim"]),
                                st.one_of(_values, st.just(_vectors(1).astype("<f4").tobytes()))), max_size=3),
       st.sampled_from(["people", "persons"]))
def test_fuzz_export_content(records, key):
    try:
        parsed = parse_content(msgpack.packb({key: records}))
    except ExportError:
        return
    for name, created, vectors, audio, sr in parsed:
        assert isinstance(name, str) and name and np.isfinite(created)
        assert vectors.shape[1] == 128 and np.all(np.isfinite(vectors)) and np.all(np.linalg.norm(vectors, axis=1) > 0)
        assert (audio is None) == (sr is None)


@pytest.fixture(scope="module")
def valid_export(tmp_path_factory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("export")
    store = PeopleStore.open(folder / "phone" / "people.db")
    store.enroll("Ada", _vectors())
    path = folder / "people.plx"
    store.export_encrypted(path, PASSPHRASE)
    return path, path.read_bytes()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_a_damaged_export_file_never_changes_the_store(valid_export, tmp_path, data):
    _path, blob = valid_export
    kind = data.draw(st.sampled_from(["flip", "truncate", "insert"]))
    pos = data.draw(st.integers(0, len(blob) - 1))
    if kind == "flip":
        damaged = blob[:pos] + bytes([blob[pos] ^ data.draw(st.integers(1, 255))]) + blob[pos + 1 :]
    elif kind == "truncate":
        damaged = blob[:pos]
    else:
        damaged = blob[:pos] + data.draw(st.binary(min_size=1, max_size=8)) + blob[pos:]
    target = tmp_path / f"device-{kind}-{pos}" / "people.db"
    device = PeopleStore.open(target)
    path = tmp_path / f"damaged-{kind}-{pos}.plx"
    path.write_bytes(damaged)
    before = target.read_bytes()
    with pytest.raises(ExportError):
        device.import_encrypted(path, PASSPHRASE)
    assert target.read_bytes() == before and device.people() == []
