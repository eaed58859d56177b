import io
import json

from IExplainLib.progress import Progress, parse_event


def test_json_lines_round_trip():
    stream = io.StringIO()
    progress = Progress("json", stream=stream)
    progress("explain", 0.25, "window 3", slice=3, iteration=1)
    progress.done("finished")
    lines = stream.getvalue().splitlines()
    first = parse_event(lines[0])
    assert first == {"v": 1, "stage": "explain", "fraction": 0.25, "message": "window 3", "slice": 3, "iteration": 1}
    assert parse_event(lines[1])["stage"] == "done"
    assert parse_event("some log line") is None
    assert parse_event(json.dumps({"no": "stage"})) is None


def test_text_mode_throttles_but_always_shows_completion():
    stream = io.StringIO()
    progress = Progress("text", stream=stream, min_interval_s=3600)
    progress("train", 0.1)
    progress("train", 0.2)
    progress("train", 1.0)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "100.0%" in lines[-1]
