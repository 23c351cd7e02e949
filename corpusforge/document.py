"""The record that flows between stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    """One document: a stable `id`, its `text`, the source `url` and flat `metadata`.

    Metadata values must be scalars (str, int, float, bool or None); each key becomes a
    Parquet column, and a key a document lacks is written as a null. `html_tree` is the parsed
    page, kept while `text` is still HTML so the stages before extraction and trafilatura
    parse it once (see `stages/html.py`); it is never written.
    """

    id: str
    text: str
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    html_tree: Any = field(default=None, repr=False, compare=False)
