"""HTTP API of the qc app."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from config.api import ApiView
from qc import selectors
from workforce.apis import MeOutputSerializer, MeWorkerSerializer
from workforce.models import Role
from workforce.selectors import worker_get_profile


class QualitySerializer(serializers.Serializer):
    project = serializers.IntegerField()
    accuracy_estimate = serializers.FloatField()
    as_of = serializers.DateTimeField()
    blocked = serializers.BooleanField()


class MeApi(ApiView):
    """The caller's own account; a worker also sees their profile and, per project, their
    accuracy estimate as of the previous UTC midnight (SPEC §8)."""

    @extend_schema(responses=MeOutputSerializer)
    def get(self, request):
        user = request.user
        body = MeOutputSerializer(user).data
        if user.role != Role.VENDOR_ADMIN:
            del body["vendor"]
        if user.role == Role.WORKER:
            worker = worker_get_profile(user=user)
            body.update(MeWorkerSerializer(worker).data)
            body["quality"] = QualitySerializer(
                selectors.worker_quality_public(worker_id=worker.pk), many=True
            ).data
        return Response(body)
