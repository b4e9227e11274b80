from django.urls import path

from qc import apis

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="me"),
    path(
        "projects/<int:project_id>/results/",
        apis.ProjectResultsApi.as_view(),
        name="project-results",
    ),
]
