"""The event log: every emitted event as a JSON line with the keys the replay harness writes to events.jsonl."""

from __future__ import annotations

import json
import logging

import pytest

from peoplelens.core.event_log import REQUIRED_KEYS, EventLog, EventLogError, event_record, read_event_log
from peoplelens.core.state import AudioEvent, IdentityState, Sound
from peoplelens.lens.experiences import ExperienceEngine
from peoplelens.lens.experiences.scripted import ScriptedPerson, ScriptedScene, events_of


def scene() -> ScriptedScene:
    return ScriptedScene([
        ScriptedPerson(1, -30.0, 2.0, identity=IdentityState.KNOWN, name="lin_manuel_miranda"),
        ScriptedPerson(2, 0.0, 3.0, identity=IdentityState.NOT_ENROLLED, looking_at_wearer=True),
        ScriptedPerson(3, 25.0, 3.0, identity=IdentityState.IDENTIFYING),
    ])


def test_engine_logs_every_event_as_a_json_line_with_the_required_keys(tmp_path):
    path = tmp_path / "out" / "events.jsonl"
    with EventLog(path, t0=100.0) as log:
        frames = scene().run(ExperienceEngine(event_log=log), 3.0, lambda t: -60 + 40 * (t - 100.0), start_s=100.0)
    events = events_of(frames)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(events) == log.count and len(events) >= 5
    records = [json.loads(line) for line in lines]
    for rec, ev in zip(records, events, strict=True):
        assert set(REQUIRED_KEYS) <= set(rec)
        assert rec["t"] == pytest.approx(ev.t - 100.0, abs=1e-4)  # seconds into the recording
        assert rec["sound"] == str(ev.sound) and rec["track"] == ev.track_id and rec["reason"] == ev.reason
        assert rec["azimuth_deg"] == pytest.approx(ev.azimuth_deg, abs=0.01)
        assert rec["distance_m"] == pytest.approx(ev.distance_m, abs=0.001)
        assert rec["name"] == ("lin_manuel_miranda" if ev.track_id == 1 else None)  # a known person, every event
    sounds = {r["sound"] for r in records}
    assert {"bump", "name", "click", "gaze"} <= sounds
    assert read_event_log(path) == records


def test_logger_output_and_json_safety(caplog):
    logger = logging.getLogger("peoplelens.events.test")
    event = AudioEvent(t=1.5, sound=Sound.BUMP, track_id=4, azimuth_deg=10.0, elevation_deg=0.0,
                       distance_m=float("inf"), reason="far", extra={"offset": float("nan"), "xs": (1, 2)})
    with caplog.at_level(logging.INFO, logger=logger.name):
        record = EventLog(logger=logger).log(event)
    assert record["distance_m"] is None and record["extra"] == {"offset": None, "xs": [1, 2]}
    assert json.loads(caplog.records[-1].getMessage()) == record
    assert event_record(event)["t"] == 1.5


def test_bad_log_files_give_clear_errors(tmp_path):
    bad = tmp_path / "events.jsonl"
    bad.write_text('{"t": 1}\n')
    with pytest.raises(EventLogError, match="missing key"):
        read_event_log(bad)
    bad.write_text("not json\n")
    with pytest.raises(EventLogError, match=":1: not JSON"):
        read_event_log(bad)
    with pytest.raises(EventLogError, match="cannot read"):
        read_event_log(tmp_path / "missing.jsonl")
    (tmp_path / "file").write_text("")
    with pytest.raises(EventLogError, match="cannot write"):
        EventLog(tmp_path / "file" / "events.jsonl")
