"""The state directory: one owner, a snapshot and a journal, so a restart keeps what was accepted.
"""
