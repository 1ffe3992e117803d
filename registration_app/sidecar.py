"""The small files beside a people store that keep it safe: the process lock and the generation counter.

* ``people.db.lock``: an advisory ``flock`` taken (exclusively) while a process decides whether to create the
  store, and around every write, so two processes opening or changing one store at once take turns instead of
  both creating it (or both writing the counter).
* ``people.db.generation``: the store's write counter, kept outside the database file. Every committed change
  raises the generation sealed inside the store's manifest, then this file. A ``people.db`` whose sealed
  generation is lower than this file's is an older copy put back (it could bring back a forgotten person) and is
  refused. Written atomically (temporary file, fsync, rename, fsync of the folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from peoplelens.registration_app.errors import StoreError

#: The generation of a store just created (no person was ever written); every write adds one.
CREATED_GENERATION = 1


def lock_path_for(store_path: Path) -> Path:
    """``people.db`` -> ``people.db.lock``."""
    return store_path.with_name(store_path.name + ".lock")


def generation_path_for(store_path: Path) -> Path:
    """``people.db`` -> ``people.db.generation``."""
    return store_path.with_name(store_path.name + ".generation")


def fsync_dir(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable (best effort where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, mode: int = 0o600, error: type[StoreError] = StoreError,
                  what: str = "") -> None:
    """Replace ``path`` with ``data`` atomically: a temporary file beside it, fsync, rename, fsync the folder.
    A failure raises ``error`` ("cannot write <what> <path>: <reason>"); the temporary file is removed."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise error(f"cannot write {what + ' ' if what else ''}{path}: {exc.strerror or exc}") from None
    fsync_dir(path.parent)


def remove_stale_temporaries(folder: Path, prefix: str) -> list[Path]:
    """Delete ``.<prefix>*.tmp-*`` files a crashed writer left in ``folder``; returns what was removed."""
    removed = []
    for tmp in folder.glob(f".{prefix}*.tmp-*"):
        with contextlib.suppress(OSError):
            tmp.unlink()
            removed.append(tmp)
    return removed


@contextlib.contextmanager
def store_lock(store_path: Path) -> Iterator[None]:
    """Hold the store's inter-process lock (blocking) for the block."""
    path = lock_path_for(store_path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot create the store lock {path}: {exc.strerror or exc}; is the folder writable?") \
            from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class GenerationFile:
    """The store's generation counter kept beside it (see the module docstring)."""

    def __init__(self, store_path: Path) -> None:
        self.path = generation_path_for(store_path)

    def read(self) -> int | None:
        """The recorded generation, or None when there is no counter file."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read the store's generation record {self.path}: {exc.strerror or exc}") \
                from None
        try:
            value = json.loads(raw)
            generation = value["generation"]
            if value.get("format") != 1 or not isinstance(generation, int) or isinstance(generation, bool) \
                    or generation < 0:
                raise ValueError(generation)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise StoreError(f"the store's generation record {self.path} is damaged; it protects against an older "
                             "copy of the store being put back. If the store itself is the newest copy, run "
                             "`peoplelens people accept-copy` to record its generation again") from None
        return generation

    def write(self, generation: int) -> None:
        """Record ``generation`` durably."""
        write_durably(self.path, json.dumps({"format": 1, "generation": int(generation)}).encode() + b"\n")
