"""How much of each probe photo's identity the range scenes keep: a check on the scenes (``bench.range_scenes``), not
on the product, independent of the enrolment and of every threshold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from peoplelens.bench.range_scenes import FacePhoto, RangeScenes, SceneSpec
from peoplelens.models.face_detector import FaceDetectorOptions, create_face_detector
from peoplelens.models.sessions import SessionConfig

if TYPE_CHECKING:
    from peoplelens.models.face_embedder import FaceEmbedder


def composite_fidelity(scenes: RangeScenes, photos: list[FacePhoto], distance_m: float = 1.0,
                       embedder: FaceEmbedder | None = None) -> dict[str, float]:
    """How much of each photo's identity its composite keeps: the cosine between the face embedding of the photo
    itself and that of its pasted face in the first frame of an adult scene at ``distance_m`` (found by the
    detector near where it was pasted; 0 when it is not found). Independent of the enrolment and of any
    threshold: a check on the scenes, not on the product. Keyed by the photo's ``identity/file name``."""
    from peoplelens.models.face_embedder import FaceEmbedder

    embedder = embedder or FaceEmbedder.from_registry(session_config=SessionConfig(intra_op_threads=1))
    detector = create_face_detector(FaceDetectorOptions(model="det_500m", max_side=2048),
                                    session_config=SessionConfig(intra_op_threads=1))
    out = {}
    for photo in photos:
        own = embedder.embed(photo.image, photo.keypoints[None])[0]
        frame = next(iter(scenes.render(SceneSpec(distance_m, "adult", photo, frames=1))))
        x1, y1, x2, y2 = (int(v) for v in frame.face_box)
        pad = x2 - x1
        x0, y0 = max(0, x1 - pad), max(0, y1 - pad)
        window = frame.image[y0:y2 + pad, x0:x2 + pad]
        found = detector.detect(window)
        key = f"{photo.identity}/{photo.path.name}"
        if not len(found):
            out[key] = 0.0
            continue
        pasted = embedder.embed(window, found.required_keypoints[int(np.argmax(found.areas))][None])[0]
        out[key] = float(own @ pasted)
    return out
