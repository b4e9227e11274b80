from django.urls import path

from qc import apis

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="me"),
    path("exams/", apis.ExamsApi.as_view(), name="exams"),
    path(
        "projects/<int:project_id>/aggregate/",
        apis.ProjectAggregateApi.as_view(),
        name="project-aggregate",
    ),
    path("aggregations/<int:job_id>/", apis.AggregationDetailApi.as_view(), name="aggregation"),
    path(
        "projects/<int:project_id>/results/",
        apis.ProjectResultsApi.as_view(),
        name="project-results",
    ),
    path(
        "projects/<int:project_id>/agreement/",
        apis.ProjectAgreementApi.as_view(),
        name="project-agreement",
    ),
    path(
        "projects/<int:project_id>/checks/",
        apis.ProjectChecksApi.as_view(),
        name="project-checks",
    ),
]
