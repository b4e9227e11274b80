from django.urls import path

from workforce import apis
from workforce.models import Vendor, Worker

urlpatterns = [
    path("auth/token/", apis.TokenObtainApi.as_view(), name="auth-token"),
    path("vendors/", apis.VendorListApi.as_view(), name="vendor-list"),
    path("vendors/register/", apis.VendorRegisterApi.as_view(), name="vendor-register"),
    path("vendors/<int:vendor_id>/", apis.VendorDetailApi.as_view(), name="vendor-detail"),
    *(
        path(
            f"vendors/<int:vendor_id>/{action}/",
            apis.VendorStatusChangeApi.as_view(target=target),
            name=f"vendor-{action}",
        )
        for action, target in [
            ("approve", Vendor.Status.APPROVED),
            ("reject", Vendor.Status.REJECTED),
            ("suspend", Vendor.Status.SUSPENDED),
        ]
    ),
    path(
        "vendors/<int:vendor_id>/centers/", apis.VendorCentersApi.as_view(), name="vendor-centers"
    ),
    path("centers/<int:center_id>/", apis.CenterDetailApi.as_view(), name="center-detail"),
    path(
        "centers/<int:center_id>/workers/", apis.CenterWorkersApi.as_view(), name="center-workers"
    ),
    path("workers/", apis.WorkerListApi.as_view(), name="worker-list"),
    path("workers/register/", apis.WorkerRegisterApi.as_view(), name="worker-register"),
    path("workers/<int:worker_id>/", apis.WorkerDetailApi.as_view(), name="worker-detail"),
    *(
        path(
            f"workers/<int:worker_id>/{action}/",
            apis.WorkerStatusChangeApi.as_view(target=target),
            name=f"worker-{action}",
        )
        for action, target in [
            ("suspend", Worker.Status.SUSPENDED),
            ("reinstate", Worker.Status.ACTIVE),
        ]
    ),
    path("managers/", apis.ManagerCreateApi.as_view(), name="manager-create"),
    path("skills/", apis.SkillsApi.as_view(), name="skills"),
    path("skills/<slug:slug>/", apis.SkillDetailApi.as_view(), name="skill-detail"),
]
