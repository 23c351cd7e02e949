"""Per-stage counters: documents and bytes in and out, drop reasons, seconds."""

from __future__ import annotations

import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class StageStats:
    name: str
    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    dropped: Counter = field(default_factory=Counter)

    def merge(self, other: StageStats) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.seconds += other.seconds
        self.dropped.update(other.dropped)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.docs_in,
            "out": self.docs_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "dropped": dict(sorted(self.dropped.items())),
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageStats:
        return cls(
            name=data["name"],
            docs_in=data["in"],
            docs_out=data["out"],
            bytes_in=data.get("bytes_in", 0),
            bytes_out=data.get("bytes_out", 0),
            seconds=data.get("seconds", 0.0),
            dropped=Counter(data.get("dropped", {})),
        )


def merge_stats(per_task: list[list[dict[str, Any]]]) -> list[StageStats]:
    """Sum the stage lists of several tasks, stage by stage, in pipeline order."""
    merged: dict[str, StageStats] = {}
    for task_stats in per_task:
        for entry in task_stats:
            stats = StageStats.from_json(entry)
            if stats.name in merged:
                merged[stats.name].merge(stats)
            else:
                merged[stats.name] = stats
    return list(merged.values())


def format_table(stages: list[StageStats], wall_seconds: float | None = None) -> str:
    """A plain-text summary table, one row per stage, drop reasons beneath each stage."""
    header = f"{'stage':<24}{'docs in':>10}{'docs out':>10}{'dropped':>10}{'MB out':>10}{'seconds':>10}"
    lines = [header, "-" * len(header)]
    for s in stages:
        dropped = sum(s.dropped.values())
        lines.append(
            f"{s.name:<24}{s.docs_in:>10,}{s.docs_out:>10,}{dropped:>10,}{s.bytes_out / 1e6:>10.1f}{s.seconds:>10.1f}"
        )
        for reason, n in sorted(s.dropped.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"    {reason:<40}{n:>14,}")
    if wall_seconds is not None:
        lines.append("-" * len(header))
        lines.append(f"wall time {wall_seconds:.1f} s")
    return "\n".join(lines)


def peak_rss_mb() -> int:
    """This process's peak resident memory in MB. VmHWM, not ru_maxrss: Linux
    carries ru_maxrss over from the parent through fork and exec, so a process started by a
    big one would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux
