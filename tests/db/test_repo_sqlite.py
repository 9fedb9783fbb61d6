import pytest

from daguerre.testing.repo_suite import RepoSuite


class TestSQLite(RepoSuite):
    @pytest.fixture
    def db(self, sqlite_db):
        return sqlite_db
