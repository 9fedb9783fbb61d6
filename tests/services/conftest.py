from pg_fixtures import pg_db, pg_url, sqlite_db  # noqa: F401
