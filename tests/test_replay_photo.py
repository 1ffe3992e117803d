"""``peoplelens replay PHOTO``: a photo is shown to the camera as a still scene (the frames a pipeline needs to decide
anything), names the enrolled people in it, can be swept by a virtual pan, and a damaged or oversized photo is
refused before any work with a clear error."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from peoplelens.models.images import is_image_file
from peoplelens.sim_harness.cli import replay
from peoplelens.sim_harness.errors import ReplayError
from peoplelens.sim_harness.still import STILL_FPS

pytestmark = pytest.mark.real_assets
QUIET = ["--no-overlay", "--no-audio", "--no-report", "--quiet"]


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """The two people of the photo and three others (a small gallery keeps enrolment short)."""
    folder = tmp_path_factory.mktemp("enroll")
    for person in ("barack_obama", "joe_biden", "john_salley", "bbt_raj", "kit_harington"):
        (folder / person).symlink_to(data_dir / "faces" / "enroll" / person)
    return folder


def _frames(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "frames.jsonl").read_text().splitlines()]


def test_a_photo_is_held_still_and_its_people_are_named(data_dir: Path, enrolled: Path, tmp_path: Path) -> None:
    photo = data_dir / "faces" / "group" / "two_people.jpg"
    assert is_image_file(photo) and not is_image_file(data_dir / "videos" / "hamilton_short_clip.mp4")
    out = tmp_path / "out"
    result = CliRunner().invoke(replay, [str(photo), "--enroll-dir", str(enrolled), "--out", str(out),
                                         "--no-overlay", "--no-audio", "--quiet"])  # with the report
    assert result.exit_code == 0, result.output + repr(result.exception)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 100 and summary["video_fps"] == STILL_FPS  # 4 s at 25 fps, the default
    assert summary["source"] == "two_people.jpg (a photo held still for 4 s)"
    frames = _frames(out)
    assert [f["index"] for f in frames] == list(range(100))
    assert frames[-1]["t"] == pytest.approx(99 / STILL_FPS)
    names = {t["track"]: t["name"] for t in frames[-1]["tracks"] if t["name"]}
    # both are named, each on their own face, and nobody else is
    assert sorted(names.values()) == ["barack_obama", "joe_biden"]
    named_ever = {t["name"] for f in frames for t in f["tracks"] if t["name"]}
    assert named_ever == {"barack_obama", "joe_biden"}
    assert summary["on_last_frame"] == {"named": ["barack_obama", "joe_biden"], "others": {}}
    assert "on the last frame: barack_obama, joe_biden named" in result.output
    assert "<th>on the last frame</th><td>barack_obama, joe_biden named</td>" in (out / "report.html").read_text()


def test_still_seconds_sets_the_length_and_a_virtual_pan_sweeps_the_photo(data_dir: Path, tmp_path: Path) -> None:
    photo = data_dir / "faces" / "group" / "obama_and_biden.jpg"  # 2000 x 1428
    out = tmp_path / "pan"
    result = CliRunner().invoke(replay, [str(photo), "--still-seconds", "2", "--virtual-pan", "sin:10:2",
                                         "--window", "960x720", "--out", str(out), *QUIET])
    assert result.exit_code == 0, result.output + repr(result.exception)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 50 and summary["size"] == [960, 720]
    assert "a photo held still for 2 s" in summary["source"] and "virtual pan" in summary["source"]
    imu_rows = (out / "imu.csv").read_text().splitlines()[1:]
    yaws = [float(row.split(",")[1]) for row in imu_rows]
    assert len(yaws) == 50 and max(yaws) == pytest.approx(10.0, abs=0.5) and min(yaws) == pytest.approx(-10.0, abs=0.5)


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG that claims ``width`` x ``height`` pixels with a few bytes of data (an image bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize(("content", "says"), [
    (_png_claiming(100_000, 100_000), "100000"),  # decoded it would need 30 GB
    (b"\xff\xd8\xff\xe0" + b"\x13" * 4000, "cannot replay the photo"),  # a JPEG's first bytes, then garbage
])
def test_a_damaged_or_oversized_photo_is_refused_before_any_work(tmp_path: Path, content: bytes, says: str) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(content)
    out = tmp_path / "out"
    result = CliRunner().invoke(replay, [str(photo), "--out", str(out), *QUIET])
    assert result.exit_code != 0 and isinstance(result.exception, ReplayError)  # `peoplelens` prints it, exit 2
    assert "cannot replay the photo" in str(result.exception) and says in str(result.exception)
    assert not out.exists() or not any(out.iterdir())  # nothing written
