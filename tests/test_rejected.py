"""The sample of dropped documents survives any text."""

from __future__ import annotations

import json
from pathlib import Path

from corpusforge.document import Document
from corpusforge.engine.rejected import RejectedSampler, gather


def test_texts_with_unicode_line_separators_are_gathered_whole(tmp_path: Path) -> None:
    # json.dumps(ensure_ascii=False) leaves U+2028, U+2029 and U+0085 raw; a page holding one
    # used to end the run when the samples were gathered
    texts = ["a\u2028b", "c\u2029d\x85e", "f\x1cg\x1dh\x1ei", "plain"]
    sampler = RejectedSampler(per_reason=10)
    for i, text in enumerate(texts):
        sampler("stage:reason", Document(id=str(i), text=text))
    sampler.write(tmp_path / "task-00000.jsonl")
    counts = gather([tmp_path / "task-00000.jsonl"], 10, tmp_path / "out")
    assert counts == {"stage:reason": 4}
    lines = (tmp_path / "out" / "stage-reason.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    assert [json.loads(line)["text"] for line in lines] == texts


def test_warc_dates_are_written_as_iso_8601_utc(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta, timezone

    sampler = RejectedSampler(per_reason=10)
    when = datetime(2026, 12, 3, 7, 39, 15, tzinfo=UTC)
    sampler("s:r", Document(id="a", text="x", metadata={"warc_date": when}))
    sampler("s:r", Document(id="b", text="y", metadata={"warc_date": when.astimezone(timezone(timedelta(hours=2)))}))
    sampler.write(tmp_path / "task.jsonl")
    dates = [json.loads(line)["metadata"]["warc_date"] for line in (tmp_path / "task.jsonl").read_text().splitlines()]
    assert dates == ["2026-12-03T07:39:15Z", "2026-12-03T07:39:15Z"]
