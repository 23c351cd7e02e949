"""The summary a dedup stage's `finish` writes into the output folder: how many documents it
saw and the sizes of its duplicate clusters (read by the run report)."""

from __future__ import annotations

import numpy as np

from corpusforge.io.atomic import write_json_atomic
from corpusforge.io.paths import AnyPath


def summary_file(label: str) -> str:
    """The summary's name in the output folder, for the stage labelled `label`."""
    return f"{label}.json"


def write_summary(output_dir: AnyPath, label: str, stage: str, documents: int, sizes: np.ndarray) -> None:
    """`sizes`: the size of every cluster of two or more documents; one document of each is kept."""
    values, counts = np.unique(sizes, return_counts=True)
    write_json_atomic(
        output_dir / summary_file(label),
        {
            "stage": stage,
            "documents": int(documents),
            "duplicates": int(sizes.sum()) - len(sizes),
            "cluster_sizes": dict(zip(map(str, values.tolist()), counts.tolist())),
        },
    )
