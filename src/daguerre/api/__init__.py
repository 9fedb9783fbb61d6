"""HTTP tier: the only code that knows about requests, responses and status codes."""
