"""The kernel every concept builds on: records, error names, ids, settings, AWS clients,
observability, payload limits.
"""
