from pg_fixtures import pg_url  # noqa: F401
