"""Pure dataclasses and rules: no I/O here."""
