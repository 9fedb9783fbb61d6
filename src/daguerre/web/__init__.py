"""The dashboard: server-rendered pages over the same services and policy as the API."""

ROUTES: list = []
