"""Secrets' lifecycle: the data key that seals subscription secrets, the JWT key's rotation, the
seeding custom resource.
"""
