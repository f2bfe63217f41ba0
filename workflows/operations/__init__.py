"""What a tenant asks for: events, subscriptions and dead letters, with idempotency, cursors and
paging.
"""
