from django.urls import path

from qc import apis

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="me"),
]
