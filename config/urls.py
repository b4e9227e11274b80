from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import health

api_v1 = [
    # The worker loop's routes are matched first (marketplace.urls starts with them): every
    # claim and submit resolves its URL.
    path("", include("marketplace.urls")),
    path("", include("workforce.urls")),
    path("", include("qc.urls")),
    path("", include("billing.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("dashboard/", include("marketplace.dashboard")),
]
