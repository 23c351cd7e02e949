"""Cut the stage list into phases at the global stages.

    reader, a, b, G1, c, G2, d, writer
    ──► stream 0: read input files → a, b, G1.prepare → work shards
    ──► G1's global steps (each a set of independent tasks over files)
    ──► stream 1: work shards → G1.run, c, G2.prepare → work shards
    ──► G2's global steps
    ──► stream 2: work shards → G2.run, d → data/part-*.parquet

Streaming phases have one task per input file, numbered from the sorted input list; a
later streaming phase's task n reads the work shard that task n of the phase before wrote,
so a document keeps its (task, row) position through the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

from corpusforge.engine.config import PipelineConfig
from corpusforge.engine.stage import GlobalStage
from corpusforge.stages import STAGES


@dataclass(frozen=True)
class StreamPhase:
    index: int
    stages: tuple[int, ...]  # streaming stages to run, as indexes into the config's stage list
    apply_global: int | None  # a global stage whose run() opens this phase
    prepare_global: int | None  # a global stage whose prepare() closes this phase
    final: bool  # writes the corpus (data/) rather than work shards

    @property
    def name(self) -> str:
        return f"{self.index:02d}-stream"


@dataclass(frozen=True)
class GlobalPhase:
    index: int
    stage: int  # index into the config's stage list
    step: int  # which of the stage's steps
    step_name: str

    @property
    def name(self) -> str:
        return f"{self.index:02d}-{self.step_name}"


Phase = StreamPhase | GlobalPhase


def plan_phases(config: PipelineConfig) -> list[Phase]:
    stages = config.stages
    last = len(stages) - 1
    phases: list[Phase] = []
    current: list[int] = []
    opening: int | None = None
    for i in range(1, last):  # the reader and the writer are the phases' ends, not members
        cls = STAGES[stages[i].name]
        if issubclass(cls, GlobalStage):
            phases.append(StreamPhase(len(phases), tuple(current), opening, i, final=False))
            for step_no, step in enumerate(stages[i].build().steps()):
                phases.append(GlobalPhase(len(phases), i, step_no, f"{stages[i].label}-{step.name}"))
            current, opening = [], i
        else:
            current.append(i)
    phases.append(StreamPhase(len(phases), tuple(current), opening, None, final=True))
    return phases


def describe_phases(config: PipelineConfig, phases: list[Phase]) -> str:
    lines = []
    for p in phases:
        if isinstance(p, StreamPhase):
            parts = []
            if p.apply_global is not None:
                parts.append(f"{config.stages[p.apply_global].label}.run")
            parts += [config.stages[i].label for i in p.stages]
            if p.prepare_global is not None:
                parts.append(f"{config.stages[p.prepare_global].label}.prepare")
            src = config.stages[0].label if p.index == 0 else "work shards"
            dst = config.stages[-1].label if p.final else "work shards"
            lines.append(f"phase {p.name}: {src} → {' → '.join(parts) or '(pass)'} → {dst}")
        else:
            lines.append(f"phase {p.name}: global step of {config.stages[p.stage].label}")
    return "\n".join(lines)
