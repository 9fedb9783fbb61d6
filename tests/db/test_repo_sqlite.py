import pytest

from daguerre.testing.repo_suite import RepoSuite


class TestSQLite(RepoSuite):
    @pytest.fixture
    def db(self, sqlite_db):  # noqa: ANN001, ANN201
        return sqlite_db
