"""The asset manager: find, verify, download and import every file in the registry.

Where assets are looked for, in order:

1. the offline directory ``$PEOPLELENS_ASSETS`` (read-only, laid out like the sample bundle: ``models/``,
   ``data/``);
2. the per-user cache (``$PEOPLELENS_CACHE`` or the platform cache dir, e.g. ``~/.cache/peoplelens``),
   where ``fetch`` and ``import`` put files.

Every file is checked against the registry's size and sha256 before it is used. Downloads go to a
``.part`` file that is resumed with an HTTP Range request, checked, then renamed into place atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from peoplelens.models.errors import AssetError
from peoplelens.models.registry import AssetSpec, all_assets, get_spec

log = logging.getLogger(__name__)

ENV_ASSETS = "PEOPLELENS_ASSETS"
ENV_CACHE = "PEOPLELENS_CACHE"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks; :class:`AssetError` when it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise AssetError(_unreadable(path, exc)) from None
    return h.hexdigest()


def _unreadable(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be used, with the fix (permissions, a folder in its place, an I/O error)."""
    if isinstance(exc, PermissionError):
        return (f"{path} cannot be read (permission denied); make it readable, e.g. `chmod a+r {path}` "
                "(and its folders a+x)")
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a folder, not the asset file"
    return f"{path} cannot be read ({exc.strerror or exc})"


def _is_file(path: Path) -> bool:
    """``path.is_file()``, raising :class:`AssetError` (not PermissionError) when its folder cannot be searched."""
    try:
        return path.is_file()
    except OSError as exc:
        raise AssetError(_unreadable(path, exc)) from None


@dataclass(frozen=True)
class AssetStatus:
    """The outcome of checking one asset."""

    spec: AssetSpec
    path: Path | None  # where it was found (None: nowhere)
    ok: bool
    problem: str = ""  # why it is not ok


def _describe_bad_file(path: Path, spec: AssetSpec) -> str:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(256).lstrip().lower()
    except OSError as exc:
        return _unreadable(path, exc)
    if head.startswith((b"<!doctype", b"<html", b"<?xml")) and not spec.relpath.endswith(".xml"):
        return f"{path} is an HTML/XML page, not the asset (a failed download or a saved web page)"
    if size != spec.size:
        return f"{path} has {size} bytes, expected {spec.size} (truncated or a different file)"
    return f"{path} has the wrong sha256 (corrupt or a different file)"


class AssetManager:
    """Finds and checks assets in the offline directory and the user cache; downloads and imports them."""

    def __init__(self, offline_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> None:
        offline = offline_dir if offline_dir is not None else os.environ.get(ENV_ASSETS)
        self.offline_dir: Path | None = Path(offline).expanduser() if offline else None
        cache = cache_dir or os.environ.get(ENV_CACHE) or platformdirs.user_cache_dir("peoplelens")
        self.cache_dir = Path(cache).expanduser()
        self._verified: dict[tuple[str, int, int], str] = {}

    # ---- locating and verifying -------------------------------------------------------------------
    def candidates(self, spec: AssetSpec) -> list[Path]:
        """Where the asset may be, in search order."""
        roots = [r for r in (self.offline_dir, self.cache_dir) if r is not None]
        return [root / spec.relpath for root in roots]

    def _hash(self, path: Path) -> str:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._verified:
            self._verified[key] = sha256_file(path)
        return self._verified[key]

    def check(self, spec: AssetSpec) -> AssetStatus:
        """Check the asset in every place it may be; the first good copy wins."""
        problems = []
        for path in self.candidates(spec):
            try:
                if not _is_file(path):
                    continue
                if path.stat().st_size == spec.size and self._hash(path) == spec.sha256:
                    return AssetStatus(spec, path, True)
            except (AssetError, OSError) as exc:  # unreadable: say so, and keep looking in the other places
                problems.append(str(exc) if isinstance(exc, AssetError) else _unreadable(path, exc))
                continue
            problems.append(_describe_bad_file(path, spec))
        if problems:
            return AssetStatus(spec, None, False, "; ".join(problems))
        return AssetStatus(spec, None, False, "not found in " + ", ".join(str(p) for p in self.candidates(spec)))

    def how_to_get(self, spec: AssetSpec) -> str:
        """A sentence telling the user how to obtain the asset."""
        ways = []
        if spec.derived is not None:
            source = get_spec(spec.derived.source)
            return (f"run `peoplelens assets fetch {spec.name}` (makes it from {source.name}, "
                    f"{source.filename}: {self.how_to_get(source)})")
        url = spec.url or (spec.archive.url if spec.archive is not None else None)
        if url:
            ways.append(f"run `peoplelens assets fetch {spec.name}` (downloads {url})")
        ways.append(
            f"or set {ENV_ASSETS} to a folder holding {spec.relpath} (e.g. the PeopleLens sample bundle), "
            "or run `peoplelens assets import DIR`"
        )
        return "; ".join(ways)

    def path(self, name: str) -> Path:
        """The verified local path of an asset, or an ``AssetError`` that says what is wrong and how to fix it."""
        try:
            spec = get_spec(name)
        except KeyError as exc:
            raise AssetError(str(exc)) from None
        status = self.check(spec)
        if not status.ok and spec.derived is not None and self.check(get_spec(spec.derived.source)).ok:
            self._derive(spec)  # the published file is here: make the runnable one from it (about a second)
            status = self.check(spec)
        if status.ok and status.path is not None:
            return status.path
        raise AssetError(
            f"asset {spec.name!r} ({spec.filename}) is not usable: {status.problem}. "
            f"Expected sha256 {spec.sha256} ({spec.size} bytes). To get it: {self.how_to_get(spec)}."
        )

    # ---- getting ----------------------------------------------------------------------------------
    def fetch(
        self,
        specs: Iterable[AssetSpec],
        progress: Callable[[str, int, int], None] | None = None,
        downloader: Callable[[str, Path, Callable[[int, int], None] | None], None] | None = None,
    ) -> list[AssetStatus]:
        """Make every asset available: already-good copies are kept, the rest are downloaded and verified.

        ``progress(name, done_bytes, total_bytes)`` is called while downloading; ``downloader(url, dest,
        cb)`` (default: resumable HTTP) is injectable so tests can use a local server.
        """
        download = downloader or download_resumable
        results = []
        for spec in specs:
            status = self.check(spec)
            if status.ok:
                results.append(status)
                continue
            if spec.derived is not None:
                source_status = self.fetch([get_spec(spec.derived.source)], progress, downloader)[0]
                if not source_status.ok:
                    results.append(AssetStatus(spec, None, False, f"its source: {source_status.problem}"))
                    continue
                try:
                    self._derive(spec)
                except (OSError, AssetError) as exc:
                    results.append(AssetStatus(spec, None, False, f"making it failed: {exc}"))
                    continue
                results.append(self.check(spec))
                continue
            if not (spec.url or spec.archive):
                problem = f"{status.problem}; no public download exists: {self.how_to_get(spec)}"
                results.append(AssetStatus(spec, None, False, problem))
                continue
            try:
                self._download_one(spec, download, progress)
            except (OSError, AssetError, zipfile.BadZipFile) as exc:
                results.append(AssetStatus(spec, None, False, f"download failed: {exc}"))
                continue
            results.append(self.check(spec))
        return results

    def _derive(self, spec: AssetSpec) -> None:
        """Make a derived asset from its verified source into the cache, and verify the result."""
        from peoplelens.models.derive import STEPS

        assert spec.derived is not None
        source = self.path(spec.derived.source)
        dest = self.cache_dir / spec.relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part", delete=False) as tmp:
            pass
        try:
            STEPS[spec.derived.step](source, Path(tmp.name))
            _verify_or_discard(Path(tmp.name), spec.sha256, spec.size, f"{spec.name} (made by {spec.derived.step})")
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
        os.replace(tmp.name, dest)
        log.info("made %s from %s (%s)", dest, source, spec.derived.step)

    def _download_one(self, spec: AssetSpec, download, progress) -> None:
        """Download from the official URL; when that fails and an archive holds the same bytes, from there."""
        dest = self.cache_dir / spec.relpath
        dest.parent.mkdir(parents=True, exist_ok=True)
        cb = (lambda done, total: progress(spec.name, done, total)) if progress else None
        if spec.url:
            part = dest.with_name(dest.name + ".part")
            try:
                download(spec.url, part, cb)
                _verify_or_discard(part, spec.sha256, spec.size, spec.name)
            except (OSError, AssetError) as exc:
                if spec.archive is None:
                    raise
                log.warning("%s: %s failed (%s); trying %s", spec.name, spec.url, exc, spec.archive.url)
                part.unlink(missing_ok=True)
            else:
                os.replace(part, dest)
                return
        assert spec.archive is not None
        archive = self.cache_dir / "archives" / spec.archive.url.rsplit("/", 1)[-1]
        archive.parent.mkdir(parents=True, exist_ok=True)
        if not (archive.is_file() and sha256_file(archive) == spec.archive.sha256):
            part = archive.with_name(archive.name + ".part")
            download(spec.archive.url, part, cb)
            _verify_or_discard(part, spec.archive.sha256, None, spec.archive.url)
            os.replace(part, archive)
        with zipfile.ZipFile(archive) as zf:
            member = next((n for n in zf.namelist() if n.rsplit("/", 1)[-1] == spec.archive.member), None)
            if member is None:
                raise AssetError(f"{archive} has no member {spec.archive.member}")
            with zf.open(member) as src, tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp:
                shutil.copyfileobj(src, tmp)
        _verify_or_discard(Path(tmp.name), spec.sha256, spec.size, spec.name)
        os.replace(tmp.name, dest)

    def import_dir(self, directory: str | Path, specs: Iterable[AssetSpec] | None = None) -> list[AssetStatus]:
        """Copy assets found in ``directory`` (bundle layout, or files by name anywhere below it) into the
        cache, each verified first; files that do not match the registry are reported, never copied."""
        directory = Path(directory)
        if not directory.is_dir():
            raise AssetError(f"{directory} is not a directory")
        by_name: dict[str, list[Path]] = {}
        try:
            for p in directory.rglob("*"):
                if p.is_file():
                    by_name.setdefault(p.name, []).append(p)
        except OSError as exc:
            raise AssetError(f"cannot list {directory}: {exc.strerror or exc}") from None
        results = []
        for spec in specs if specs is not None else all_assets():
            direct = directory / spec.relpath
            try:
                options = [direct] if _is_file(direct) else by_name.get(spec.filename, [])
                good = next((p for p in options if p.stat().st_size == spec.size and sha256_file(p) == spec.sha256),
                            None)
            except (AssetError, OSError) as exc:
                problem = str(exc) if isinstance(exc, AssetError) else _unreadable(direct, exc)
                results.append(AssetStatus(spec, None, False, problem))
                continue
            if good is None:
                problem = _describe_bad_file(options[0], spec) if options else f"not in {directory}"
                results.append(AssetStatus(spec, None, False, problem))
                continue
            dest = self.cache_dir / spec.relpath
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp, open(good, "rb") as src:
                shutil.copyfileobj(src, tmp)
            os.replace(tmp.name, dest)
            results.append(AssetStatus(spec, dest, True))
        return results


def _verify_or_discard(path: Path, sha256: str, size: int | None, what: str) -> None:
    actual_size = path.stat().st_size
    digest = sha256_file(path)
    if digest != sha256 or (size is not None and actual_size != size):
        path.unlink(missing_ok=True)
        raise AssetError(
            f"downloaded {what} failed verification: sha256 {digest} ({actual_size} bytes), "
            f"expected {sha256}" + (f" ({size} bytes)" if size else "") + "; the partial file was removed"
        )


def download_resumable(url: str, dest: Path, progress: Callable[[int, int], None] | None = None) -> None:
    """Download ``url`` into ``dest``, resuming from its current length with an HTTP Range request."""
    import requests

    start = dest.stat().st_size if dest.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    with requests.get(url, headers=headers, stream=True, timeout=30, allow_redirects=True) as resp:
        if resp.status_code == 416:  # already complete
            return
        if resp.status_code not in (200, 206):
            raise AssetError(f"GET {url} answered HTTP {resp.status_code}")
        if resp.status_code == 200:
            start = 0  # server ignored the range: start over
        total = start + int(resp.headers.get("Content-Length", 0) or 0)
        with open(dest, "ab" if start else "wb") as fh:
            done = start
            for chunk in resp.iter_content(_CHUNK):
                fh.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)


_default: AssetManager | None = None


def default_manager() -> AssetManager:
    """The process-wide manager built from the environment."""
    global _default
    if _default is None:
        _default = AssetManager()
    return _default


def asset_path(name: str) -> Path:
    """Shortcut: the verified path of a registry asset."""
    return default_manager().path(name)
