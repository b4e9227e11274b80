import pytest

from tests import factories


@pytest.fixture
def project_sentiment(manager_pat):
    project = factories.project_create(manager_pat, gold_ratio=0.0)
    factories.tasks_create(project, 5)
    return project
