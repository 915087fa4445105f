"""Cross-cutting security: keyed hashes, password hashing, rate limits, lockout."""
