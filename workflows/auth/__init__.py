"""Who may call: JWTs and their roles, token revocations, per-tenant usage keys."""
