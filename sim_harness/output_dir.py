"""Replay output folders that never mix two runs and never hide a crashed one.

* A run writes into a staging folder beside ``OUT`` (``.OUT.partial-<pid>-<random>``, same filesystem) holding a
  marker file with its pid; only when everything is written is the marker removed and the folder renamed to
  ``OUT`` (a previous ``OUT`` is first renamed to ``.OUT.old-...`` and deleted after), so ``OUT`` only ever holds
  one complete run.
* A non-empty ``OUT`` is refused unless ``overwrite``; even then only a folder that holds replay outputs
  (``summary.json``, or an interrupted batch's marker) is replaced, never an unrelated folder.
* What a killed run left is handled by the next run for the same ``OUT`` and reported: a staging folder of a dead
  process is deleted; a finished one (killed between the two renames) is moved into place, as is an ``.old``
  folder whose ``OUT`` is missing. A batch (a folder of videos) writes straight into ``OUT`` with the marker
  inside, removed when the batch summary is written: an interrupted batch is flagged, and replaced only with
  ``overwrite``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from peoplelens.sim_harness.errors import ReplayError

MARKER = ".peoplelens-partial"
_LEGACY_PARTIAL = ".replay-partial-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _marker_owner(folder: Path) -> dict | None:
    """The marker's content (pid, host, started), or None when the folder has no marker."""
    try:
        return json.loads((folder / MARKER).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"pid": -1, "host": "?", "started": 0}


def _running_elsewhere(owner: dict) -> bool:
    return owner.get("host") == socket.gethostname() and owner.get("pid") != os.getpid() \
        and isinstance(owner.get("pid"), int) and owner["pid"] > 0 and _alive(owner["pid"])


def _write_marker(folder: Path) -> None:
    (folder / MARKER).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                             "started": time.time()}))


def _when(owner: dict) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(owner.get("started") or 0))


def recover(out: Path) -> list[str]:
    """Clean up or put in place what an interrupted run left for ``out``; returns one notice per action."""
    notices: list[str] = []
    parent = out.parent
    if not parent.is_dir():
        return notices
    for old in sorted(parent.glob(f".{out.name}.old-*")):
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            notices.append(f"removed {old.name}, the previous output an interrupted run had set aside")
        else:
            old.rename(out)
            notices.append(f"put back {out}, the previous output an interrupted run had set aside")
    for staging in sorted(parent.glob(f".{out.name}.partial-*")):
        owner = _marker_owner(staging)
        if owner is not None and _running_elsewhere(owner):
            raise ReplayError(f"another replay (pid {owner['pid']}) is writing {out} right now; wait for it or "
                              "choose another --out")
        if owner is None and not out.exists():
            staging.rename(out)  # it had finished: killed between moving the old output away and this one in
            notices.append(f"put in place the finished output of an interrupted run in {out}")
            continue
        shutil.rmtree(staging, ignore_errors=True)
        notices.append(f"removed the partial output of a replay interrupted on {_when(owner or {})} "
                       f"(pid {(owner or {}).get('pid', '?')}); nothing of it was in {out}")
    if out.is_dir():
        for legacy in out.glob(f"{_LEGACY_PARTIAL}*"):
            shutil.rmtree(legacy, ignore_errors=True)
            notices.append(f"removed {legacy}, the partial output of an interrupted run of an older version")
        owner = _marker_owner(out)
        if owner is not None and _running_elsewhere(owner):
            raise ReplayError(f"another replay (pid {owner['pid']}) is writing {out} right now")
        if owner is not None:
            done = sum(1 for p in out.iterdir() if p.is_dir() and (p / "summary.json").is_file())
            notices.append(f"{out} holds a batch replay interrupted on {_when(owner)} ({done} video(s) finished, no "
                           "batch summary); pass --overwrite to replace it")
    return notices


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that is a file, or a non-empty folder unless ``overwrite`` and it holds replay outputs."""
    if out.exists() and not out.is_dir():
        raise ReplayError(f"--out {out} is a file, not a folder")
    if not out.is_dir():
        return
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    if not overwrite:
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise ReplayError(f"the output folder {out} is not empty ({shown}); choose a new --out, or pass "
                          "--overwrite to replace the previous replay's outputs")
    ours = (out / "summary.json").is_file() or (out / MARKER).is_file()
    if not ours:
        raise ReplayError(f"{out} does not hold replay outputs (no summary.json); --overwrite only replaces a "
                          "previous replay's folder, never other files. Choose another --out")


def prepare_output(out: Path, overwrite: bool) -> list[str]:
    """:func:`recover`, then :func:`check_output`; returns the recovery notices."""
    notices = recover(out)
    check_output(out, overwrite)
    return notices


@contextlib.contextmanager
def staged_output(out: Path, overwrite: bool) -> Iterator[Path]:
    """A staging folder to write a run's outputs into; moved to ``out`` when the block succeeds, removed when it
    fails (see the module docstring)."""
    prepare_output(out, overwrite)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.parent / f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        _write_marker(staging)
    except OSError as exc:
        raise ReplayError(f"cannot write to the output folder {out}: {exc}") from exc
    try:
        yield staging
        (staging / MARKER).unlink()  # complete from here on
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
            out.rename(old)
        staging.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def begin_batch(out: Path, overwrite: bool) -> list[str]:
    """Make ``out`` an empty folder for a batch (setting a previous batch aside when ``overwrite``) and mark it as
    being written; returns the recovery notices."""
    notices = prepare_output(out, overwrite)
    if out.is_dir() and any(out.iterdir()):
        old = out.parent / f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
        out.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_marker(out)
    except OSError as exc:
        raise ReplayError(f"cannot write to the output folder {out}: {exc}") from exc
    return notices


def finish_batch(out: Path) -> None:
    """The batch in ``out`` is complete: remove its marker."""
    with contextlib.suppress(FileNotFoundError):
        (out / MARKER).unlink()
