"""A sample of dropped documents per reason, for a person to inspect (`rejected: N`).

Each task keeps its first N documents per reason and writes them to
`work/rejected/task-00000.jsonl` before its marker; when the run ends, the first N per
reason in task order are gathered into `OUTPUT/rejected/<stage>-<reason>.jsonl`, so the
sample is the same whatever the number of workers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from corpusforge.document import Document
from corpusforge.io.atomic import write_text_atomic
from corpusforge.io.paths import AnyPath

MAX_TEXT_CHARS = 100_000  # a 20 MB page in the sample helps nobody


class RejectedSampler:
    def __init__(self, per_reason: int) -> None:
        self.per_reason = per_reason
        self.kept: dict[str, list[dict]] = defaultdict(list)

    def __call__(self, reason: str, doc: Document) -> None:
        bucket = self.kept[reason]
        if len(bucket) < self.per_reason:
            text = doc.text if len(doc.text) <= MAX_TEXT_CHARS else doc.text[:MAX_TEXT_CHARS]
            bucket.append(
                {
                    "reason": reason,
                    "id": doc.id,
                    "url": doc.url,
                    "text": text,
                    "truncated": len(doc.text) > MAX_TEXT_CHARS,
                    "metadata": doc.metadata,
                }
            )

    def write(self, path: AnyPath) -> None:
        lines = [
            json.dumps(entry, ensure_ascii=False, default=_json_value)
            for reason in sorted(self.kept)
            for entry in self.kept[reason]
        ]
        write_text_atomic(path, "".join(line + "\n" for line in lines))


def _json_value(value: Any) -> str:
    """Dates as ISO 8601 in UTC with a Z, as the WARC header had them; anything else as text."""
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value
        return utc.isoformat().replace("+00:00", "Z")
    return str(value)


def gather(task_files: list[AnyPath], per_reason: int, out_dir: AnyPath) -> dict[str, int]:
    """Merge the tasks' samples (in task order) into one file per reason; returns counts."""
    merged: dict[str, list[str]] = defaultdict(list)
    for path in task_files:
        if not path.is_file():
            continue
        # "\n" only: a text may hold U+2028 or U+0085, which json.dumps leaves raw and splitlines() splits on
        for line in path.read_text(encoding="utf-8").split("\n")[:-1]:
            reason = json.loads(line)["reason"]
            if len(merged[reason]) < per_reason:
                merged[reason].append(line)
    for reason, lines in merged.items():
        write_text_atomic(out_dir / f"{reason.replace(':', '-')}.jsonl", "".join(ln + "\n" for ln in lines))
    return {reason: len(lines) for reason, lines in merged.items()}
