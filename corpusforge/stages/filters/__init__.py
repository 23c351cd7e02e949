"""Filters: stages that only decide, keep or say why not (language, Gopher, C4)."""
