"""Persistence: tables, the database handle, repositories (the only SQL), migrations."""
