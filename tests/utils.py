import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from workforce.models import DeliveryCenter, Skill, User, Vendor, Worker


def api_client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: set DATABASE_URL=postgres://... (CI does)",
)


def workforce_state() -> dict:
    """Everything a refused request could have changed."""
    return {
        "vendors": list(Vendor.objects.order_by("pk").values_list("pk", "name", "status")),
        "centers": list(
            DeliveryCenter.objects.order_by("pk").values_list("pk", "name", "seats", "status")
        ),
        "workers": list(Worker.objects.order_by("pk").values_list("pk", "status")),
        "users": list(User.objects.order_by("pk").values_list("pk", "username", "role", "vendor")),
        "skills": list(Skill.objects.order_by("pk").values_list("slug", "name")),
    }
