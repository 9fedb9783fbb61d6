import pytest

from daguerre.testing.repo_suite import RepoSuite

pytestmark = pytest.mark.postgres


class TestPostgreSQL(RepoSuite):
    @pytest.fixture
    def db(self, pg_db):
        return pg_db
