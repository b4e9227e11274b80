"""HTTP API of the qc app."""

import django_filters
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings

from config.api import ApiView
from config.renderers import EXPORT_RENDERERS, stream_response
from marketplace.apis import ScaleField
from marketplace.models import Project
from marketplace.selectors import project_get_for_user
from qc import reports, selectors
from qc.models import AggregationJob, Exam, TaskResult
from qc.services.aggregation import aggregation_start
from qc.services.exams import exam_create
from workforce.apis import MeOutputSerializer, MeWorkerSerializer
from workforce.models import Role
from workforce.permissions import ManagerOrStaff, roles_allowed
from workforce.selectors import skill_list, worker_get_profile


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


class ResultSerializer(serializers.Serializer):
    task = serializers.IntegerField()
    data = serializers.JSONField()
    consensus = serializers.JSONField()
    confidence = serializers.FloatField()
    judgments = serializers.IntegerField()
    method = serializers.CharField()


class ResultFilter(django_filters.FilterSet):
    confidence_below = django_filters.NumberFilter(field_name="confidence", lookup_expr="lt")
    confidence_at_least = django_filters.NumberFilter(field_name="confidence", lookup_expr="gte")

    class Meta:
        model = TaskResult
        fields = ["method"]


class ProjectResultsApi(ApiView):
    """Consensus per complete task; `?format=jsonl` or `?format=csv` streams every row."""

    permission_classes = [ManagerOrStaff]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, *EXPORT_RENDERERS]
    queryset = TaskResult.objects.none()  # for the schema; rows come from the selector
    filterset_class = ResultFilter
    ordering_fields = ["task", "confidence"]

    @extend_schema(
        responses=ResultSerializer(many=True),
        parameters=[OpenApiParameter("format", enum=["json", "jsonl", "csv"])],
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        rows = selectors.result_rows(self.filter_queryset(selectors.result_list(project=project)))
        renderer = request.accepted_renderer
        if renderer.format in {"jsonl", "csv"}:
            return stream_response(
                renderer,
                selectors.RESULT_COLUMNS,
                (selectors.result_row(row) for row in rows.iterator(chunk_size=2000)),
                filename=f"project-{project.pk}-results",
            )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response([selectors.result_row(row) for row in page])


class AggregationJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = AggregationJob
        fields = [
            "id",
            "project",
            "method",
            "status",
            "tasks_updated",
            "iterations",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class ProjectAggregateApi(ApiView):
    permission_classes = [ManagerOrStaff]

    class InputSerializer(serializers.Serializer):
        method = serializers.ChoiceField(choices=TaskResult.Method.choices)

    @extend_schema(request=InputSerializer, responses={202: AggregationJobSerializer})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = aggregation_start(
            project=project, method=data.validated_data["method"], user=request.user
        )
        job.refresh_from_db()
        return Response(AggregationJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class AggregationDetailApi(ApiView):
    permission_classes = [ManagerOrStaff]

    @extend_schema(responses=AggregationJobSerializer)
    def get(self, request, job_id: int):
        return Response(
            AggregationJobSerializer(
                selectors.aggregation_get_for_user(user=request.user, job_id=job_id)
            ).data
        )


class AgreementWorkerSerializer(serializers.Serializer):
    worker = serializers.IntegerField()
    username = serializers.CharField()
    judgments = serializers.IntegerField()
    judgments_with_consensus = serializers.IntegerField()
    agreement_with_consensus = serializers.FloatField(allow_null=True)


class ProjectAgreementApi(ApiView):
    """Krippendorff's alpha of the project's trusted regular judgments, and each worker's
    agreement with the consensus (qc.reports.agreement_report says how each is measured)."""

    permission_classes = [ManagerOrStaff]

    class OutputSerializer(serializers.Serializer):
        krippendorff_alpha = serializers.FloatField(allow_null=True)
        level = serializers.CharField(
            allow_null=True, help_text="`nominal` or `interval`; null where alpha does not apply."
        )
        note = serializers.CharField(allow_null=True)
        judgments = serializers.IntegerField()
        workers = AgreementWorkerSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(self.OutputSerializer(reports.agreement_report(project=project)).data)


class CompletenessSerializer(serializers.Serializer):
    tasks_missing_judgments = serializers.IntegerField()
    empty_answers = serializers.IntegerField()


class DuplicatePayloadsSerializer(serializers.Serializer):
    groups = serializers.IntegerField()
    tasks = serializers.IntegerField()
    examples = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))


class DuplicateTextAnswerSerializer(serializers.Serializer):
    worker = serializers.IntegerField()
    username = serializers.CharField()
    answer = serializers.CharField(trim_whitespace=False)
    tasks = serializers.IntegerField()


class InconsistentWorkerSerializer(serializers.Serializer):
    worker = serializers.IntegerField()
    username = serializers.CharField()
    repeated_items = serializers.IntegerField()
    contradictions = serializers.IntegerField()


class ProjectChecksApi(ApiView):
    """Data checks before a delivery: completeness, duplicate payloads, duplicate text answers
    and workers contradicting themselves (qc.reports.data_checks defines each)."""

    permission_classes = [ManagerOrStaff]

    class OutputSerializer(serializers.Serializer):
        completeness = CompletenessSerializer()
        duplicate_payloads = DuplicatePayloadsSerializer()
        duplicate_text_answers = DuplicateTextAnswerSerializer(many=True)
        inconsistent_workers = InconsistentWorkerSerializer(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(self.OutputSerializer(reports.data_checks(project=project)).data)


class ExamManagerSerializer(serializers.ModelSerializer):
    skill = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    task_type = serializers.CharField(source="project.task_type")
    labels = serializers.JSONField(source="project.labels")
    questions = serializers.IntegerField()

    class Meta:
        model = Exam
        fields = [
            "id",
            "skill",
            "level",
            "pass_mark",
            "retry_after_hours",
            "task_type",
            "labels",
            "questions",
            "created_at",
        ]


class ExamWorkerSerializer(serializers.ModelSerializer):
    """What a worker sees of an exam: never its questions' answers."""

    skill = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    questions = serializers.IntegerField()

    class Meta:
        model = Exam
        fields = ["id", "skill", "level", "questions"]


class ExamsApi(ApiView):
    """Managers define exams and list theirs; workers list the exams open to them and take one
    by claiming with `{exam}` until 204."""

    permission_classes = [roles_allowed(Role.MANAGER, Role.WORKER)]
    queryset = Exam.objects.none()  # for the schema; rows come from the selectors

    class InputSerializer(serializers.Serializer):
        skill = serializers.SlugRelatedField(slug_field="slug", queryset=skill_list())
        level = serializers.IntegerField(min_value=0, max_value=100)
        pass_mark = serializers.FloatField(min_value=0, max_value=1)
        retry_after_hours = serializers.FloatField(min_value=0, max_value=24 * 365)
        task_type = serializers.ChoiceField(choices=Project.TaskType.choices)
        labels = serializers.ListField(
            child=serializers.CharField(max_length=200), required=False, max_length=1000
        )
        scale = ScaleField(required=False)
        tasks = serializers.ListField(child=serializers.JSONField(), max_length=1000)

    def get_permissions(self):
        if self.request.method == "POST":
            return [ManagerOrStaff()]
        return super().get_permissions()

    @extend_schema(responses=ExamManagerSerializer(many=True))
    def get(self, request):
        if request.user.role == Role.WORKER:
            worker = worker_get_profile(user=request.user)
            exams = selectors.exam_list_open_to_worker(worker_id=worker.pk, now=timezone.now())
            return self.list_response(exams, ExamWorkerSerializer)
        return self.list_response(
            selectors.exam_list_for_manager(user=request.user), ExamManagerSerializer
        )

    @extend_schema(request=InputSerializer, responses={201: ExamManagerSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        answer_format = fields.pop("scale", {})
        if "labels" in fields:
            answer_format["labels"] = fields.pop("labels")
        exam = exam_create(user=request.user, answer_format=answer_format, **fields)
        exam = selectors.exam_list_for_manager(user=request.user).get(pk=exam.pk)
        return Response(ExamManagerSerializer(exam).data, status=status.HTTP_201_CREATED)
