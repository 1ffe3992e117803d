"""The phone web app: take photos in the browser, get feedback on each, enrol a person from them.

Privacy and safety rules this module keeps:

* Photos arrive as raw request bodies (``Content-Type: image/jpeg|png|webp``), never multipart (starlette
  spools multipart files over 1 MB to a temporary file on disk). The body is read with a size cap enforced
  while it streams, checked by magic bytes, decoded in memory, assessed, and dropped: a session keeps only
  each photo's feedback and raw embedding, in memory, until "Enrol" protects and stores them.
* The server binds 127.0.0.1 by default. Any other host needs a pairing token (random, shown at start),
  required on every API call as the ``X-PeopleLens-Token`` header or ``?token=``, compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from peoplelens.core.errors import PeopleLensError
from peoplelens.registration_app.enroll import (
    EnrolmentOptions,
    FaceAnalyzer,
    PhotoFeedback,
    assess_photo,
    default_analyzer,
    enroll_feedbacks,
    pose_coverage,
)
from peoplelens.registration_app.errors import InsecureBindError, UploadError
from peoplelens.registration_app.name_audio import MAX_CLIP_BYTES
from peoplelens.registration_app.store import PeopleStore, PersonNotFoundError

MAX_PHOTO_BYTES = 8 * 1024 * 1024
TOKEN_HEADER = "X-PeopleLens-Token"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
STATIC = Path(__file__).with_name("static")


class HTTPProblemError(UploadError):
    """A refused request with an HTTP status, answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str) -> bool:
    """True for localhost / 127.0.0.0/8 / ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random pairing token (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def image_kind(data: bytes) -> str | None:
    """"jpeg", "png" or "webp" from the magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


async def read_body_capped(request: Request, cap: int, what: str = "photo") -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``cap`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise HTTPProblemError(413, f"{what} is {int(declared) // 1024} KiB; the limit is {cap // 1024} KiB")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > cap:
            raise HTTPProblemError(413, f"{what} is larger than the limit of {cap // 1024} KiB")
    if not buf:
        raise HTTPProblemError(400, f"{what} is empty")
    return bytes(buf)


@dataclass
class EnrolSession:
    """One phone's photos in progress (feedback + raw embedding per photo, memory only)."""

    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    photos: list[PhotoFeedback] = field(default_factory=list)
    name_clip: bytes | None = None

    def summary(self) -> dict:
        """Counts and pose coverage for the page."""
        done, missing = pose_coverage(self.photos)
        return {"n_photos": len(self.photos), "n_good": sum(fb.ok for fb in self.photos),
                "pose_bins_done": done, "pose_bins_missing": missing, "has_name_clip": self.name_clip is not None}

    def discard(self) -> None:
        """Drop every photo result and clip."""
        for fb in self.photos:
            fb.embedding = None
        self.photos.clear()
        self.name_clip = None


class SessionTable:
    """Enrolment sessions in memory, expired after ``ttl_s`` idle seconds, at most ``max_sessions``."""

    def __init__(self, ttl_s: float = 900.0, max_sessions: int = 16) -> None:
        self.ttl_s, self.max_sessions = ttl_s, max_sessions
        self._sessions: dict[str, EnrolSession] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if now - v.last_used > self.ttl_s]:
            self._sessions.pop(sid).discard()

    def create(self) -> str:
        """A new session id."""
        with self._lock:
            self._expire()
            if len(self._sessions) >= self.max_sessions:
                raise HTTPProblemError(429, "too many enrolment sessions open; finish or cancel one first")
            sid = secrets.token_urlsafe(12)
            self._sessions[sid] = EnrolSession()
            return sid

    def get(self, sid: str) -> EnrolSession:
        """The live session ``sid`` (404 when unknown or expired)."""
        with self._lock:
            self._expire()
            session = self._sessions.get(sid)
            if session is None:
                raise HTTPProblemError(404, "unknown or expired session; reload the page")
            session.last_used = time.monotonic()
            return session

    def drop(self, sid: str) -> None:
        """Discard a session and everything it holds."""
        with self._lock:
            session = self._sessions.pop(sid, None)
        if session is not None:
            session.discard()


def create_app(
    store: PeopleStore, *, host: str = "127.0.0.1", token: str | None = None, analyzer: FaceAnalyzer | None = None,
    options: EnrolmentOptions | None = None, max_photo_bytes: int = MAX_PHOTO_BYTES, max_photos: int = 20,
    speak_names: bool = True,
) -> FastAPI:
    """The registration web app for ``store``. Refuses (InsecureBindError) a non-loopback ``host`` without a
    ``token``; with a token every API call must carry it."""
    if not is_loopback(host) and not token:
        raise InsecureBindError(f"listening on {host} makes the app reachable from other machines; a pairing "
                                "token is required (the CLI creates one)")
    sessions = SessionTable()
    app = FastAPI(title="PeopleLens registration", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sessions = sessions
    page = (STATIC / "index.html").read_text(encoding="utf-8")

    def get_analyzer() -> FaceAnalyzer:
        return analyzer or default_analyzer()

    def require_token(request: Request) -> None:
        if not token:
            return
        given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPProblemError(401, "pairing token missing or wrong: open the address printed by register-app")

    @app.exception_handler(PeopleLensError)
    async def _problem(_request: Request, exc: PeopleLensError) -> JSONResponse:
        status = getattr(exc, "status", 404 if isinstance(exc, PersonNotFoundError) else 400)
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])

    @api.get("/people")
    async def people() -> dict:
        records = await run_in_threadpool(store.people)
        return {"people": [{"name": p.name, "n_vectors": p.n_vectors, "has_name_audio": p.has_name_audio}
                           for p in records]}

    @api.post("/sessions")
    async def new_session() -> dict:
        return {"session": sessions.create(), "max_photos": max_photos, "max_photo_bytes": max_photo_bytes}

    @api.post("/sessions/{sid}/photos")
    async def add_photo(sid: str, request: Request) -> dict:
        session = sessions.get(sid)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in IMAGE_TYPES:
            raise HTTPProblemError(415, f"send the photo as the raw body with Content-Type {', '.join(IMAGE_TYPES)} "
                              f"(got {ctype or 'none'})")
        if len(session.photos) >= max_photos:
            raise HTTPProblemError(409, f"this session already has {max_photos} photos; enrol or start again")
        data = await read_body_capped(request, max_photo_bytes)
        if image_kind(data) is None:
            raise HTTPProblemError(415, "the upload is not a JPEG, PNG or WebP image")
        feedback = await run_in_threadpool(assess_photo, data, get_analyzer(), options)
        del data
        if not feedback.face_found and feedback.messages and feedback.messages[0].startswith("not a usable image"):
            raise HTTPProblemError(415, feedback.messages[0])
        session.photos.append(feedback)
        return {"photo": feedback.to_dict(), "index": len(session.photos) - 1, "summary": session.summary()}

    @api.post("/sessions/{sid}/name-clip")
    async def add_name_clip(sid: str, request: Request) -> dict:
        from peoplelens.registration_app.name_audio import read_clip

        session = sessions.get(sid)
        data = await read_body_capped(request, MAX_CLIP_BYTES, what="name clip")
        await run_in_threadpool(read_clip, data)  # validates
        session.name_clip = data
        return {"summary": session.summary()}

    @api.post("/sessions/{sid}/enroll")
    async def enroll(sid: str, request: Request) -> dict:
        session = sessions.get(sid)
        try:
            body = await request.json()
            name = body["name"]
        except Exception:
            raise HTTPProblemError(400, 'send JSON {"name": "..."}') from None
        report = await run_in_threadpool(enroll_feedbacks, store, name, list(session.photos), session.name_clip,
                                         speak_names, options)
        if report.enrolled:
            sessions.drop(sid)
        return report.to_dict()

    @api.delete("/sessions/{sid}")
    async def cancel(sid: str) -> dict:
        sessions.drop(sid)
        return {"ok": True}

    app.include_router(api)
    return app
