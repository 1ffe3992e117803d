"""``peoplelens experiences simulate`` runs the scheme on the built-in scene and writes a valid events.jsonl."""

from __future__ import annotations

from click.testing import CliRunner

from peoplelens.cli import cli
from peoplelens.core.event_log import read_event_log


def test_simulate_writes_events_and_reports_timing(tmp_path):
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(cli, ["experiences", "simulate", "--duration", "20", "--events", str(out)])
    assert result.exit_code == 0, result.output
    records = read_event_log(out)
    sounds = {r["sound"] for r in records}
    assert {"bump", "name", "click", "gaze", "follow", "orientation", "woodblock"} <= sounds
    names = {r["name"] for r in records if r["sound"] == "name"}
    assert {"ana", "bo", "chen", "dara"} <= names  # dara only via the orientation sweep (she is behind)
    assert "SEEN        track    1  name announced: ana" in result.output
    assert "engine time per update: median" in result.output
