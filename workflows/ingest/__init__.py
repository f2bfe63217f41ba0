"""Ingest: an accepted event stored and fanned out to one notification per matching subscription."""
