"""Delivery: one attempt of one notification (target guard, signing, the POST, its verdict), the
breaker and rate-limit rules, the next attempt, the hand-off to the long tail.
"""
