"""A photo replayed as a still scene: the same picture in front of the camera for a while.

A photo gives the pipeline one frame, and one frame decides nothing: a name needs several good sightings of a face
(``[identity]``), "looking" needs three, a track needs two detections. So ``peoplelens replay PHOTO`` shows the photo
to the camera for ``still_seconds`` at ``STILL_FPS`` (every frame the same picture, the clock moving on), the way a
class photo held up to the glasses would be seen, and ``--virtual-pan`` sweeps a window across it as across a wide
video. The photo is decoded once, in memory, with the project's bounded decoder (header checked first: an image
bomb or a damaged file is a :class:`ReplayError`, never a crash inside OpenCV); the photo itself is not copied
anywhere (the replay writes only its usual outputs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from peoplelens.core.types import Frame
from peoplelens.models.errors import ImageDecodeError
from peoplelens.models.images import load_image
from peoplelens.sim_harness.errors import ReplayError
from peoplelens.sim_harness.video import RecordedFrames, VideoInfo

STILL_FPS = 25.0  # the frame rate a still photo is replayed at
DEFAULT_STILL_SECONDS = 4.0  # long enough for the identity decision on a group photo (~1-3 s a face)


class StillFrames(RecordedFrames):
    """The frames of a photo held still for ``seconds`` (a :class:`~peoplelens.sim_harness.video.RecordedFrames`,
    as a video's are)."""

    def __init__(self, path: str | Path, seconds: float = DEFAULT_STILL_SECONDS, max_frames: int | None = None,
                 fps: float = STILL_FPS) -> None:
        if not seconds > 0:
            raise ReplayError(f"a photo is replayed for a positive time; got {seconds} s")
        try:
            self.image = load_image(path)
        except ImageDecodeError as exc:
            raise ReplayError(f"cannot replay the photo {path}: {exc}") from None
        # one picture for every frame, read-only: anything that wrote into a frame would fail at once rather than
        # change the frames after it
        self.image.setflags(write=False)
        height, width = self.image.shape[:2]
        super().__init__(VideoInfo(str(path), int(width), int(height), fps, max(1, round(seconds * fps))), max_frames)

    def __iter__(self) -> Iterator[Frame]:
        self.frames_read = 0
        for index in range(self.expected_frames):
            self.frames_read += 1
            yield Frame(self.image, index / self.info.fps, index)
