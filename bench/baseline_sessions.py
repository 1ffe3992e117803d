"""How the baseline's ONNX Runtime sessions are set up (a leaf module: the CLI reads it for ``--help``)."""

from __future__ import annotations

BASELINE_SESSIONS = {
    "default": "ONNX Runtime's default session options (one thread per core, spin-waiting), as a user gets them",
    "tuned": "2 intra-op threads a session without spin-waiting (the fastest setting found for it on 2 cores)",
    "single": "1 intra-op thread a session, no spin-waiting (as our sessions, except our face detector's 2)",
}
