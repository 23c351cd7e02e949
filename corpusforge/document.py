"""The record that flows between stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Document:
    """One document: a stable `id`, its `text`, the source `url` and flat `metadata`.

    Metadata values must be scalars (str, int, float, bool, datetime or None); each key becomes a
    Parquet column, and a key a document lacks is written as a null.
    """

    id: str
    text: str
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
