"""BENCHMARKS.md's web ceiling: a Django REST framework endpoint that answers {"ok": true} and does
nothing else (no database, no authentication), for bench/claim_loop.py's reference [0]. It
answers on /ok/ and, for the bench's readiness check, on /health/."""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ALLOWED_HOSTS=["127.0.0.1"],
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": [],
        "DEFAULT_PERMISSION_CLASSES": [],
        "UNAUTHENTICATED_USER": None,
    },
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings
from django.urls import path  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402


class Ok(APIView):
    def get(self, request):
        return Response({"ok": True})

    post = get


urlpatterns = [path("ok/", Ok.as_view()), path("health/", Ok.as_view())]
application = get_wsgi_application()
