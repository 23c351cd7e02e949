"""Filters: stages that only decide, keep or say why not (URL blocklists, language, Gopher, C4)."""
