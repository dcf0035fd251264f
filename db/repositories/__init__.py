"""Repositories: keyword-only functions over a session; they never commit (the caller owns the transaction)."""
