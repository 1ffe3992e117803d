"""The phone web app: take photos in the browser, get feedback on each, enrol a person from them.

The page is a security boundary (another web page open in the phone's browser, a DNS-rebinding site, or a device
on the same network must not read who is enrolled or change anything):

* **Per-launch token, on every bind.** ``register-app`` makes a random 128-bit token at each start and prints the
  address with it (and a QR code); every API call must carry it in the ``X-PeopleLens-Token`` header (compared
  in constant time). A custom header cannot be sent cross-origin without a CORS preflight, which is never
  granted, so another site can neither read nor write.
* **Host allowlist** (Starlette's ``TrustedHostMiddleware``): only loopback names, the bound address (or this
  machine's own addresses for a wildcard bind) and ``--allow-host`` names are answered, which defeats DNS
  rebinding.
* **Same origin only**: an API request whose ``Origin`` is not this app's own, or whose ``Sec-Fetch-Site`` says
  another site, is refused (403), token or not.
* **CSRF-safe content types only**: photos must be ``image/jpeg|png|webp``, the name clip ``audio/wav``, enrolment
  ``application/json``; none of these can be sent by a plain cross-site form.
* **Per-client limits that cannot lock out the user**: each client address holds at most ``sessions_per_client``
  enrolment sessions (a new one replaces its own oldest) and when the table is full the oldest session of the
  client holding the most is dropped, so a new session is never refused; a client may have at most two photos
  being analysed at once. Request bodies must arrive within ``body_timeout_s``; the server guard
  (:mod:`~peoplelens.registration_app.serve`) bounds header time, request time and connections per client.

Privacy: photos arrive as raw request bodies, never multipart (starlette spools multipart files over 1 MB to a
temporary file on disk). The body is read with a size cap enforced while it streams, its image header checked
(size, pixels) before it is decoded in memory, assessed, and dropped: a session keeps only each photo's feedback
and raw embedding, in memory, until "Enrol" protects and stores them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from peoplelens.core.errors import PeopleLensError
from peoplelens.models.images import image_kind
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
from peoplelens.registration_app.serve import allowed_hosts_for, is_loopback
from peoplelens.registration_app.store import PeopleStore, PersonNotFoundError

__all__ = ["TOKEN_HEADER", "create_app", "image_kind", "is_loopback", "new_token"]

MAX_PHOTO_BYTES = 8 * 1024 * 1024
TOKEN_HEADER = "X-PeopleLens-Token"
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
AUDIO_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
JSON_TYPE = "application/json"
MIN_TOKEN_CHARS = 16
BODY_TIMEOUT_S = 60.0
ANALYSES_PER_CLIENT = 2
STATIC = Path(__file__).with_name("static")


class HTTPProblemError(UploadError):
    """A refused request with an HTTP status, answered as ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def new_token() -> str:
    """A random pairing token (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


def content_type(request: Request) -> str:
    """The request's media type, lower-case, without parameters."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_content_type(request: Request, allowed: Sequence[str], what: str) -> None:
    """415 unless the request's media type is one of ``allowed`` (none of which a cross-site form can send)."""
    ctype = content_type(request)
    if ctype not in allowed:
        raise HTTPProblemError(415, f"send the {what} as the raw body with Content-Type {', '.join(allowed)} "
                                    f"(got {ctype or 'none'})")


async def read_body_capped(request: Request, cap: int, what: str = "photo", timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``cap`` bytes (declared or streamed) and with 408
    when it has not fully arrived after ``timeout_s``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise HTTPProblemError(413, f"{what} is {int(declared) // 1024} KiB; the limit is {cap // 1024} KiB")
    buf = bytearray()
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                buf += chunk
                if len(buf) > cap:
                    raise HTTPProblemError(413, f"{what} is larger than the limit of {cap // 1024} KiB")
    except TimeoutError:
        raise HTTPProblemError(408, f"the {what} did not arrive within {timeout_s:g} s") from None
    if not buf:
        raise HTTPProblemError(400, f"{what} is empty")
    return bytes(buf)


def client_key(request: Request) -> str:
    """Who is asking, for per-client limits: the peer address."""
    return request.client.host if request.client else "unknown"


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
    """Enrolment sessions in memory, expired after ``ttl_s`` idle seconds.

    Creating a session never fails: a client over ``per_client`` sessions loses its own oldest, and when the
    table holds ``max_sessions`` the least recently used session of the clients holding the most is dropped, so
    nobody can fill the table to lock another client out."""

    def __init__(self, ttl_s: float = 900.0, max_sessions: int = 16, per_client: int = 3) -> None:
        self.ttl_s, self.max_sessions, self.per_client = ttl_s, max_sessions, per_client
        self._sessions: dict[str, EnrolSession] = {}
        self._owner: dict[str, str] = {}
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if now - v.last_used > self.ttl_s]:
            self._drop(sid)

    def _drop(self, sid: str) -> None:
        self._owner.pop(sid, None)
        session = self._sessions.pop(sid, None)
        if session is not None:
            session.discard()

    def _oldest_of(self, owner: str) -> str:
        return min((s for s, o in self._owner.items() if o == owner), key=lambda s: self._sessions[s].last_used)

    def create(self, owner: str = "unknown") -> str:
        """A new session id for client ``owner``."""
        with self._lock:
            self._expire()
            while sum(o == owner for o in self._owner.values()) >= self.per_client:
                self._drop(self._oldest_of(owner))
            if len(self._sessions) >= self.max_sessions:  # the least recently used of the biggest holders
                held = Counter(self._owner.values())
                most = max(held.values())
                self._drop(min((s for s, o in self._owner.items() if held[o] == most),
                               key=lambda s: self._sessions[s].last_used))
            sid = secrets.token_urlsafe(12)
            self._sessions[sid] = EnrolSession()
            self._owner[sid] = owner
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
            self._drop(sid)

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


class InFlight:
    """How many photo analyses each client has running (each client may have ``per_client``)."""

    def __init__(self, per_client: int = ANALYSES_PER_CLIENT) -> None:
        self.per_client = per_client
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()

    def enter(self, client: str) -> None:
        """Count one more, or 429 when the client is at its limit."""
        with self._lock:
            if self._running[client] >= self.per_client:
                raise HTTPProblemError(429, "the previous photos are still being checked; wait for their result")
            self._running[client] += 1

    def leave(self, client: str) -> None:
        """Count one less."""
        with self._lock:
            self._running[client] -= 1
            if self._running[client] <= 0:
                del self._running[client]


def create_app(
    store: PeopleStore, *, host: str = "127.0.0.1", token: str | None = None, analyzer: FaceAnalyzer | None = None,
    options: EnrolmentOptions | None = None, max_photo_bytes: int = MAX_PHOTO_BYTES, max_photos: int = 20,
    speak_names: bool = True, allowed_hosts: Sequence[str] | None = None, sessions: SessionTable | None = None,
    body_timeout_s: float = BODY_TIMEOUT_S,
) -> FastAPI:
    """The registration web app for ``store``, answering only ``allowed_hosts`` (default: see
    :func:`~peoplelens.registration_app.serve.allowed_hosts_for` ``host``). Every API call must carry ``token``
    (a new random one when None; it is ``app.state.token``)."""
    token = new_token() if token is None else token
    if len(token) < MIN_TOKEN_CHARS:
        raise InsecureBindError(f"the pairing token must have at least {MIN_TOKEN_CHARS} characters")
    hosts = list(allowed_hosts) if allowed_hosts is not None else allowed_hosts_for(host)
    if not hosts or "*" in hosts:
        raise InsecureBindError("the app needs a list of host names it answers to (no '*'): a page on another "
                                "site could otherwise reach it through DNS rebinding")
    sessions = sessions if sessions is not None else SessionTable()
    in_flight = InFlight()
    app = FastAPI(title="PeopleLens registration", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts, www_redirect=False)
    app.state.sessions, app.state.token, app.state.allowed_hosts = sessions, token, hosts
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    expected_token = token.encode()

    def get_analyzer() -> FaceAnalyzer:
        return analyzer or default_analyzer()

    def require_same_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        own = f"{request.url.scheme}://{request.headers.get('host', '')}".lower()
        if origin is not None and origin.lower() != own:
            raise HTTPProblemError(403, f"requests from another site ({origin[:100]}) are refused")
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise HTTPProblemError(403, f"requests from another site (Sec-Fetch-Site: {site[:40]}) are refused")

    def require_token(request: Request) -> None:
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), expected_token):
            raise HTTPProblemError(401, "pairing token missing or wrong: open the address (or scan the QR code) "
                                        "that register-app printed")

    @app.exception_handler(PeopleLensError)
    async def _problem(_request: Request, exc: PeopleLensError) -> JSONResponse:
        status = getattr(exc, "status", 404 if isinstance(exc, PersonNotFoundError) else 400)
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                           "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"})

    api = APIRouter(prefix="/api", dependencies=[Depends(require_same_origin), Depends(require_token)])

    @api.get("/people")
    async def people() -> dict:
        records = await run_in_threadpool(store.people)
        return {"people": [{"name": p.name, "n_vectors": p.n_vectors, "has_name_audio": p.has_name_audio}
                           for p in records]}

    @api.post("/sessions")
    async def new_session(request: Request) -> dict:
        return {"session": sessions.create(client_key(request)), "max_photos": max_photos,
                "max_photo_bytes": max_photo_bytes}

    @api.post("/sessions/{sid}/photos")
    async def add_photo(sid: str, request: Request) -> dict:
        session = sessions.get(sid)
        require_content_type(request, IMAGE_TYPES, "photo")
        if len(session.photos) >= max_photos:
            raise HTTPProblemError(409, f"this session already has {max_photos} photos; enrol or start again")
        client = client_key(request)
        in_flight.enter(client)
        try:
            data = await read_body_capped(request, max_photo_bytes, timeout_s=body_timeout_s)
            if image_kind(data) not in ("jpeg", "png", "webp"):
                raise HTTPProblemError(415, "the upload is not a JPEG, PNG or WebP image")
            feedback = await run_in_threadpool(assess_photo, data, get_analyzer(), options)
            del data
        finally:
            in_flight.leave(client)
        if not feedback.face_found and feedback.messages and feedback.messages[0].startswith("not a usable image"):
            raise HTTPProblemError(415, feedback.messages[0])
        session.photos.append(feedback)
        return {"photo": feedback.to_dict(), "index": len(session.photos) - 1, "summary": session.summary()}

    @api.post("/sessions/{sid}/name-clip")
    async def add_name_clip(sid: str, request: Request) -> dict:
        from peoplelens.registration_app.name_audio import read_clip

        session = sessions.get(sid)
        require_content_type(request, AUDIO_TYPES, "name clip")
        data = await read_body_capped(request, MAX_CLIP_BYTES, what="name clip", timeout_s=body_timeout_s)
        await run_in_threadpool(read_clip, data)  # validates
        session.name_clip = data
        return {"summary": session.summary()}

    @api.post("/sessions/{sid}/enroll")
    async def enroll(sid: str, request: Request) -> dict:
        session = sessions.get(sid)
        require_content_type(request, (JSON_TYPE,), 'enrolment as JSON {"name": "..."}')
        raw = await read_body_capped(request, 4096, what="enrolment", timeout_s=body_timeout_s)
        try:
            name = json.loads(raw)["name"]
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
