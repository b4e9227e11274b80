from django.urls import path

from marketplace import apis

urlpatterns = [
    # Every judgment resolves these two: they are matched first.
    path("assignments/claim/", apis.AssignmentClaimApi.as_view(), name="assignment-claim"),
    path(
        "assignments/<int:assignment_id>/submit/",
        apis.AssignmentSubmitApi.as_view(),
        name="assignment-submit",
    ),
    path("projects/", apis.ProjectsApi.as_view(), name="projects"),
    path("projects/<int:project_id>/", apis.ProjectDetailApi.as_view(), name="project-detail"),
    *(
        path(
            f"projects/<int:project_id>/{transition}/",
            apis.ProjectTransitionApi.as_view(transition=transition),
            name=f"project-{transition}",
        )
        for transition in ("publish", "pause", "complete", "archive")
    ),
    path("projects/<int:project_id>/tasks/", apis.ProjectTasksApi.as_view(), name="project-tasks"),
    path(
        "projects/<int:project_id>/imports/",
        apis.ProjectImportsApi.as_view(),
        name="project-imports",
    ),
    path("imports/<int:job_id>/", apis.ImportDetailApi.as_view(), name="import-detail"),
    path("imports/<int:job_id>/cancel/", apis.ImportCancelApi.as_view(), name="import-cancel"),
    path(
        "projects/<int:project_id>/review-sample/",
        apis.ProjectReviewSampleApi.as_view(),
        name="project-review-sample",
    ),
    path("assignments/", apis.AssignmentListApi.as_view(), name="assignments"),
    path(
        "assignments/<int:assignment_id>/",
        apis.AssignmentDetailApi.as_view(),
        name="assignment-detail",
    ),
    *(
        path(
            f"assignments/<int:assignment_id>/{action}/",
            apis.AssignmentReviewApi.as_view(decision=decision),
            name=f"assignment-{action}",
        )
        for action, decision in [("accept", "accepted"), ("reject", "rejected")]
    ),
    path(
        "assignments/<int:assignment_id>/release/",
        apis.AssignmentReleaseApi.as_view(),
        name="assignment-release",
    ),
]

urlpatterns += [
    path("projects/<int:project_id>/stats/", apis.ProjectStatsApi.as_view(), name="project-stats"),
    path(
        "projects/<int:project_id>/workers/",
        apis.ProjectWorkersApi.as_view(),
        name="project-workers",
    ),
    path("reports/throughput/", apis.ThroughputReportApi.as_view(), name="report-throughput"),
]
