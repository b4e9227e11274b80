"""HTTP API of the marketplace: projects and tasks for managers, the worker loop for workers."""

import datetime
import json

import django_filters
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings

from config import money
from config.api import ApiView, AuthenticatedInFirstStatement, JSONNegotiation
from config.fields import CurrencyField, DecimalStringField, TiersField
from config.renderers import EXPORT_RENDERERS, stream_response
from marketplace import selectors, selectors_stats
from marketplace.models import Assignment, ImportJob, Project, ProjectWorkerStats
from marketplace.services import assignments, imports, projects, reviews, stats, tasks
from qc import scoring
from workforce.fields import LanguageCodeField, unique_list
from workforce.models import LanguageLevel, Role, User, Vendor
from workforce.permissions import ManagerOrStaff, WorkerOrStaff
from workforce.selectors import skill_list

# --- projects ---------------------------------------------------------------------------------


class OptionalSkillField(serializers.SlugRelatedField):
    """A skill by slug; "" or null for none, as a project shows it."""

    def to_internal_value(self, data):
        return None if data == "" else super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "object",
        "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
        "required": ["min", "max"],
    }
)
class ScaleField(serializers.Field):
    """`{min, max}` for rating projects, stored as two columns."""

    def to_internal_value(self, data):
        if not isinstance(data, dict) or set(data) != {"min", "max"}:
            raise serializers.ValidationError("scale must be an object {min, max}.")
        bounds = []
        for key in ("min", "max"):
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise serializers.ValidationError(f"scale.{key} must be a number.")
            bounds.append(float(value))
        return {"scale_min": bounds[0], "scale_max": bounds[1]}

    def to_representation(self, value):
        return value


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    client = serializers.CharField(max_length=200, allow_blank=True, required=False)
    instructions = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    task_type = serializers.ChoiceField(choices=Project.TaskType.choices)
    labels = serializers.ListField(
        child=serializers.CharField(max_length=200), max_length=1000, required=False
    )
    scale = ScaleField(required=False)
    required_skill = OptionalSkillField(
        slug_field="slug", queryset=skill_list(), allow_null=True, required=False
    )
    min_skill_level = serializers.IntegerField(min_value=0, max_value=100, required=False)
    languages = serializers.ListField(child=LanguageCodeField(), max_length=50, required=False)
    min_language_level = serializers.ChoiceField(choices=LanguageLevel.labels, required=False)
    overlap = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    target_confidence = serializers.FloatField(min_value=0, max_value=1, required=False)
    max_overlap = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, allow_null=True
    )
    gold_ratio = serializers.FloatField(min_value=0, max_value=0.99, required=False)
    min_gold_accuracy = serializers.FloatField(min_value=0, max_value=1, required=False)
    min_gold_before_block = serializers.IntegerField(min_value=0, required=False)
    prior_correct = serializers.FloatField(min_value=0, max_value=1e6, required=False)
    prior_seen = serializers.FloatField(min_value=0, max_value=1e6, required=False)
    gold_threshold = serializers.FloatField(required=False, allow_null=True)
    gold_tolerance = serializers.FloatField(min_value=0, required=False)
    min_seconds_per_task = serializers.IntegerField(min_value=0, max_value=86400, required=False)
    lease_seconds = serializers.IntegerField(min_value=1, max_value=86400, required=False)
    max_active_assignments = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    priority = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000, required=False)
    allowed_vendors = serializers.PrimaryKeyRelatedField(
        queryset=Vendor.objects.all(), many=True, required=False
    )
    managers = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(role__in=[Role.MANAGER, Role.STAFF]),
        many=True,
        required=False,
    )
    currency = CurrencyField(required=False)
    rate = DecimalStringField(required=False)
    tiers = TiersField(required=False)

    def validate_languages(self, languages):
        unique_list(languages, "Languages")
        return languages

    def validate_min_language_level(self, label):
        return LanguageLevel.from_label(label)

    def validate_rate(self, rate):
        if rate > money.MAX_RATE:
            raise serializers.ValidationError(f"Must be at most {money.MAX_RATE} per judgment.")
        return rate

    def validate(self, attrs):
        prior_correct = attrs.get("prior_correct", getattr(self.instance, "prior_correct", 4))
        prior_seen = attrs.get("prior_seen", getattr(self.instance, "prior_seen", 5))
        if prior_correct > prior_seen:
            raise serializers.ValidationError({"prior_correct": ["Cannot exceed prior_seen."]})
        return attrs

    def to_service_arguments(self) -> dict:
        """Splits validated input into plain settings and the related lists the service sets."""
        settings = dict(self.validated_data)
        relations = {
            "languages": settings.pop("languages", None),
            "allowed_vendors": _ids(settings.pop("allowed_vendors", None)),
            "managers": _ids(settings.pop("managers", None)),
        }
        settings.update(settings.pop("scale", {}))
        return {"settings": settings, **{k: v for k, v in relations.items() if v is not None}}


def _ids(objects):
    return None if objects is None else [obj.pk for obj in objects]


class ProjectOutputSerializer(serializers.ModelSerializer):
    """Every setting with its effective value, never null (SPEC §3); settings of other task
    types are left out."""

    required_skill = serializers.SerializerMethodField()
    languages = serializers.SerializerMethodField()
    min_language_level = serializers.SerializerMethodField()
    scale = serializers.SerializerMethodField()
    gold_threshold = serializers.SerializerMethodField()
    max_overlap = serializers.SerializerMethodField()
    rate = DecimalStringField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "client",
            "instructions",
            "guideline_version",
            "task_type",
            "labels",
            "scale",
            "required_skill",
            "min_skill_level",
            "languages",
            "min_language_level",
            "overlap",
            "target_confidence",
            "max_overlap",
            "gold_ratio",
            "min_gold_accuracy",
            "min_gold_before_block",
            "prior_correct",
            "prior_seen",
            "gold_threshold",
            "gold_tolerance",
            "min_seconds_per_task",
            "lease_seconds",
            "max_active_assignments",
            "priority",
            "allowed_vendors",
            "managers",
            "currency",
            "rate",
            "tiers",
            "status",
            "created_at",
            "updated_at",
        ]

    def get_required_skill(self, project) -> str:
        """The skill's slug; "" when anyone may work on the project."""
        return project.required_skill.slug if project.required_skill_id else ""

    def get_languages(self, project) -> list[str]:
        return [row.code for row in project.language_rows.all()]

    def get_min_language_level(self, project) -> str:
        return LanguageLevel(project.min_language_level).label

    def get_scale(self, project) -> dict | None:
        return {"min": project.scale_min, "max": project.scale_max}

    def get_max_overlap(self, project) -> int:
        return project.max_overlap or project.overlap

    def get_gold_threshold(self, project) -> float | None:
        return selectors.project_answer_format(project).threshold

    def to_representation(self, project):
        body = super().to_representation(project)
        for name, types in projects.APPLIES_TO.items():
            if project.task_type not in types:
                body.pop(projects.API_NAME.get(name, name), None)
        return body


class ProjectFilter(django_filters.FilterSet):
    class Meta:
        model = Project
        fields = ["status", "task_type"]


class ProjectsApi(ApiView):
    permission_classes = [ManagerOrStaff]
    queryset = Project.objects.none()  # for the schema; rows come from the selector
    filterset_class = ProjectFilter
    ordering_fields = ["id", "priority", "created_at", "name"]

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        rows = selectors.project_list_for_user(user=request.user)
        return self.list_response(rows, ProjectOutputSerializer)

    @extend_schema(request=ProjectInputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request):
        data = ProjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = projects.project_create(user=request.user, **data.to_service_arguments())
        project = selectors.project_get_for_user(
            user=request.user, project_id=project.pk, detailed=True
        )
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(ApiView):
    permission_classes = [ManagerOrStaff]

    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request, project_id: int):
        project = selectors.project_get_for_user(
            user=request.user, project_id=project_id, detailed=True
        )
        return Response(ProjectOutputSerializer(project).data)

    @extend_schema(request=ProjectInputSerializer(partial=True), responses=ProjectOutputSerializer)
    def patch(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        data = ProjectInputSerializer(project, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        projects.project_update(project=project, **_as_changes(data.to_service_arguments()))
        project = selectors.project_get_for_user(
            user=request.user, project_id=project_id, detailed=True
        )
        return Response(ProjectOutputSerializer(project).data)


def _as_changes(arguments: dict) -> dict:
    return {"changes": arguments.pop("settings"), **arguments}


class ProjectTransitionApi(ApiView):
    """publish / pause / complete / archive: one operation, the action set per URL."""

    permission_classes = [ManagerOrStaff]
    transition: str = ""

    @extend_schema(request=None, responses=ProjectOutputSerializer)
    def post(self, request, project_id: int):
        project = selectors.project_get_for_user(
            user=request.user, project_id=project_id, detailed=True
        )
        projects.project_transition(project=project, action=self.transition)
        return Response(ProjectOutputSerializer(project).data)


class ProjectTasksApi(ApiView):
    permission_classes = [ManagerOrStaff]

    class InputSerializer(serializers.Serializer):
        data = serializers.JSONField()
        gold_answer = serializers.JSONField(required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        created = serializers.IntegerField()

    @extend_schema(request=InputSerializer(many=True), responses={201: OutputSerializer})
    def post(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        if not isinstance(request.data, list):
            raise serializers.ValidationError("Send a JSON list of {data, gold_answer?}.")
        created = tasks.task_bulk_create(project=project, rows=request.data)
        return Response({"created": created}, status=status.HTTP_201_CREATED)


# --- imports ----------------------------------------------------------------------------------


class ImportJobOutputSerializer(serializers.ModelSerializer):
    percent = serializers.SerializerMethodField()

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "status",
            "format",
            "split",
            "split_options",
            "rows_read",
            "tasks_created",
            "tasks_skipped",
            "percent",
            "errors",
            "error_count",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_percent(self, job) -> float:
        return imports.import_percent(job)


class ImportJobFilter(django_filters.FilterSet):
    class Meta:
        model = ImportJob
        fields = ["status"]


class ProjectImportsApi(ApiView):
    """A project's imports; POST a JSONL or CSV file (gzipped or not) to split into tasks by a
    job (202), whose progress and bad rows `GET /imports/{id}/` shows."""

    permission_classes = [ManagerOrStaff]
    parser_classes = [MultiPartParser]
    queryset = ImportJob.objects.none()  # for the schema; rows come from the service
    filterset_class = ImportJobFilter
    ordering_fields = ["id", "created_at"]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)
        format = serializers.ChoiceField(choices=ImportJob.Format.choices, required=False)
        split = serializers.ChoiceField(
            choices=ImportJob.Split.choices, default=ImportJob.Split.ROWS
        )
        # A JSON object; multipart sends it as text.
        split_options = serializers.JSONField(binary=True, required=False)

    @extend_schema(responses=ImportJobOutputSerializer(many=True))
    def get(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        rows = selectors.import_list_for_user(user=request.user).filter(project=project)
        return self.list_response(rows, ImportJobOutputSerializer)

    @extend_schema(request=InputSerializer, responses={202: ImportJobOutputSerializer})
    def post(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = imports.import_start(
            project=project,
            user=request.user,
            file=data.validated_data["file"],
            format=data.validated_data.get("format"),
            split=data.validated_data["split"],
            split_options=data.validated_data.get("split_options"),
        )
        job.refresh_from_db()
        return Response(ImportJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportDetailApi(ApiView):
    """An import's status, progress and first 1,000 errors with their lines."""

    permission_classes = [ManagerOrStaff]

    @extend_schema(responses=ImportJobOutputSerializer)
    def get(self, request, job_id: int):
        job = selectors.import_get_for_user(user=request.user, job_id=job_id)
        return Response(ImportJobOutputSerializer(job).data)


class ImportCancelApi(ApiView):
    """Stops a queued or running import at its next batch; the tasks already created stay."""

    permission_classes = [ManagerOrStaff]

    @extend_schema(request=None, responses=ImportJobOutputSerializer)
    def post(self, request, job_id: int):
        job = selectors.import_get_for_user(user=request.user, job_id=job_id)
        job = imports.import_cancel(job=job)
        return Response(ImportJobOutputSerializer(job).data)


# --- the worker loop --------------------------------------------------------------------------
# Gold is invisible (SPEC §4.3): every worker-facing shape below is the same for gold and
# regular tasks, and none of them reads `is_gold`, `gold_answer` or `check_passed`.


class WorkerProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    task_type = serializers.CharField()
    labels = serializers.SerializerMethodField()
    scale = serializers.SerializerMethodField()
    instructions = serializers.CharField()
    guideline_version = serializers.IntegerField()

    def get_labels(self, project) -> list[str] | None:
        return project.labels if project.task_type in scoring.LABEL_TYPES else None

    def get_scale(self, project) -> dict | None:
        if project.task_type != Project.TaskType.RATING:
            return None
        return {"min": project.scale_min, "max": project.scale_max}


class ClaimOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="assignment_id")
    task = serializers.SerializerMethodField()
    project = WorkerProjectSerializer()
    lease_expires_at = serializers.DateTimeField()

    def get_task(self, claim) -> dict:
        return {"id": claim.task_id, "data": claim.data}


class AssignmentClaimApi(AuthenticatedInFirstStatement):
    permission_classes = [WorkerOrStaff]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONNegotiation

    class InputSerializer(serializers.Serializer):
        project = serializers.IntegerField(required=False, min_value=1)
        exam = serializers.IntegerField(required=False, min_value=1)

        def validate(self, attrs):
            if "project" in attrs and "exam" in attrs:
                raise serializers.ValidationError("Claim from a project or an exam, not both.")
            return attrs

        @classmethod
        def validated(cls, data) -> dict:
            """The body as validated data. A JSON object of the usual shape — nothing, or one
            of the two with a positive integer — is valid as it is; anything else goes through
            the fields, which also word the errors."""
            if (
                type(data) is dict
                and len(data) <= 1
                and all(key in cls._declared_fields for key in data)
                and all(type(value) is int and value >= 1 for value in data.values())
            ):
                return data
            serializer = cls(data=data)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data

    @extend_schema(request=InputSerializer, responses={201: ClaimOutputSerializer, 204: None})
    def post(self, request):
        data = self.InputSerializer.validated(request.data)
        claim = assignments.assignment_claim(
            user=self.caller(request), project_id=data.get("project"), exam_id=data.get("exam")
        )
        if claim is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(claim_body(claim), status=status.HTTP_201_CREATED)


class WorkerAssignmentSerializer(serializers.ModelSerializer):
    """A worker's own assignment. `task` and `project` are ids (SPEC §8); `data` is the task's
    data, as the claim gave it, so that work listed can be picked up again."""

    data = serializers.JSONField(source="task.data", read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = [
            "id",
            "task",
            "project",
            "data",
            "status",
            "answer",
            "claimed_at",
            "lease_expires_at",
            "submitted_at",
        ]

    def get_status(self, assignment) -> str:
        return assignments.worker_visible_status(assignment)


class SubmitOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.SerializerMethodField()
    submitted_at = serializers.DateTimeField()

    def get_status(self, assignment) -> str:
        return assignments.worker_visible_status(assignment)


# Claim and submit answer every judgment: their bodies are built directly, in the shapes the
# serializers above document (a test holds the two to the same output). Through the
# serializers they cost a third of the requests' own time.
_datetime = serializers.DateTimeField().to_representation


def claim_body(claim: assignments.Claim) -> dict:
    project = claim.project
    is_rating = project.task_type == Project.TaskType.RATING
    return {
        "id": claim.assignment_id,
        "task": {"id": claim.task_id, "data": claim.data},
        "project": {
            "id": project.id,
            "name": project.name,
            "task_type": project.task_type,
            "labels": project.labels if project.task_type in scoring.LABEL_TYPES else None,
            "scale": {"min": project.scale_min, "max": project.scale_max} if is_rating else None,
            "instructions": project.instructions,
            "guideline_version": project.guideline_version,
        },
        "lease_expires_at": _datetime(claim.lease_expires_at),
    }


def submit_body(assignment: Assignment) -> dict:
    return {
        "id": assignment.id,
        "status": assignments.worker_visible_status(assignment),
        "submitted_at": _datetime(assignment.submitted_at),
    }


class AssignmentSubmitApi(AuthenticatedInFirstStatement):
    permission_classes = [WorkerOrStaff]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONNegotiation

    class InputSerializer(serializers.Serializer):
        answer = serializers.JSONField()

        @classmethod
        def validated(cls, data) -> dict:
            """The body as validated data: a JSON object with an answer other than null is
            valid as it is (whether the answer fits the task is the service's to say);
            anything else goes through the field, which also words the errors."""
            if type(data) is dict and data.get("answer") is not None:
                return {"answer": data["answer"]}
            serializer = cls(data=data)
            serializer.is_valid(raise_exception=True)
            return serializer.validated_data

    @extend_schema(request=InputSerializer, responses=SubmitOutputSerializer)
    def post(self, request, assignment_id: int):
        answer = self.InputSerializer.validated(request.data)["answer"]
        assignment = assignments.assignment_submit(
            user=self.caller(request), assignment_id=assignment_id, answer=answer
        )
        return Response(submit_body(assignment))


class AssignmentReleaseApi(ApiView):
    permission_classes = [WorkerOrStaff]

    @extend_schema(request=None, responses=WorkerAssignmentSerializer)
    def post(self, request, assignment_id: int):
        assignment = assignments.assignment_release(user=request.user, assignment_id=assignment_id)
        return Response(WorkerAssignmentSerializer(assignment).data)


class WorkerAssignmentFilter(django_filters.FilterSet):
    # Untrusted work reads `submitted` to its worker, in filters as in bodies (SPEC §4.3).
    status = django_filters.ChoiceFilter(
        choices=[(s.value, s.label) for s in Assignment.Status if s != Assignment.Status.UNTRUSTED],
        method="filter_status",
    )
    project = django_filters.NumberFilter(field_name="project_id")

    def filter_status(self, queryset, name, value):
        if value == Assignment.Status.SUBMITTED:
            return queryset.filter(
                status__in=[Assignment.Status.SUBMITTED, Assignment.Status.UNTRUSTED]
            )
        return queryset.filter(status=value)


class AssignmentListApi(ApiView):
    permission_classes = [WorkerOrStaff]
    queryset = Assignment.objects.none()  # for the schema; rows come from the selector
    filterset_class = WorkerAssignmentFilter
    ordering_fields = ["id", "claimed_at", "submitted_at"]

    @extend_schema(responses=WorkerAssignmentSerializer(many=True))
    def get(self, request):
        rows = selectors.assignment_list_for_worker(worker_user=request.user).order_by("-id")
        return self.list_response(rows, WorkerAssignmentSerializer)


class AssignmentDetailApi(ApiView):
    permission_classes = [WorkerOrStaff]

    @extend_schema(responses=WorkerAssignmentSerializer)
    def get(self, request, assignment_id: int):
        assignment = selectors.assignment_get_for_worker(
            worker_user=request.user, assignment_id=assignment_id
        )
        return Response(WorkerAssignmentSerializer(assignment).data)


# --- review -----------------------------------------------------------------------------------


class ManagerAssignmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Assignment
        fields = [
            "id",
            "task",
            "project",
            "worker",
            "status",
            "is_gold",
            "answer",
            "claimed_at",
            "lease_expires_at",
            "submitted_at",
        ]


class AssignmentReviewApi(ApiView):
    """accept / reject: one operation, the decision set per URL."""

    permission_classes = [ManagerOrStaff]
    decision: str = ""

    @extend_schema(request=None, responses=ManagerAssignmentSerializer)
    def post(self, request, assignment_id: int):
        assignment = selectors.assignment_get_for_manager(
            user=request.user, assignment_id=assignment_id
        )
        assignment = reviews.assignment_review(assignment=assignment, decision=self.decision)
        return Response(ManagerAssignmentSerializer(assignment).data)


class ProjectReviewSampleApi(ApiView):
    permission_classes = [ManagerOrStaff]

    class InputSerializer(serializers.Serializer):
        worker = serializers.IntegerField(min_value=1)
        percent = serializers.FloatField(min_value=0, max_value=100)

        def validate_percent(self, percent):
            if percent <= 0:
                raise serializers.ValidationError("Ensure this value is greater than 0.")
            return percent

    class OutputSerializer(serializers.Serializer):
        assignments = serializers.ListField(child=serializers.IntegerField())

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sample = reviews.review_sample(
            project=project,
            worker_id=data.validated_data["worker"],
            percent=data.validated_data["percent"],
        )
        return Response({"assignments": sample})


# --- analytics (rollups: marketplace.services.stats) -------------------------------------------


def _flatten(value, prefix: str = "") -> list[dict]:
    """A nested stats body as `{metric, value}` rows with dotted names, list items by index:
    the CSV export of a body that is no table."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return [{"metric": prefix, "value": value}]
    rows = []
    for key, item in items:
        rows += _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    return rows


class StatsTasksSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    open = serializers.IntegerField()
    complete = serializers.IntegerField()


class StatsJudgmentsSerializer(serializers.Serializer):
    submitted = serializers.IntegerField()
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    untrusted = serializers.IntegerField()
    pending_review = serializers.IntegerField()
    remaining = serializers.IntegerField()


class StatsGoldSerializer(serializers.Serializer):
    answered = serializers.IntegerField()
    correct = serializers.IntegerField()
    accuracy = serializers.FloatField(allow_null=True)


class StatsWorkersSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    blocked = serializers.IntegerField()
    total = serializers.IntegerField()


class StatsHourSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    judgments = serializers.IntegerField()


class StatsDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    judgments = serializers.IntegerField()


class StatsThroughputSerializer(serializers.Serializer):
    last_hour = serializers.IntegerField()
    last_24h = serializers.IntegerField()
    per_hour = StatsHourSerializer(many=True)
    per_day = StatsDaySerializer(many=True)
    seconds_per_judgment = serializers.FloatField(allow_null=True)


class StatsAccuracyBinSerializer(serializers.Serializer):
    min = serializers.FloatField()
    workers = serializers.IntegerField()


class StatsQualitySerializer(serializers.Serializer):
    agreement = serializers.FloatField(allow_null=True)
    accuracy_distribution = StatsAccuracyBinSerializer(many=True)


class StatsCostSerializer(serializers.Serializer):
    currency = serializers.CharField()
    to_date = serializers.CharField()
    projected_total = serializers.CharField(allow_null=True)


class StatsGroupSerializer(serializers.Serializer):
    """A center's or a vendor's row: its workers' figures summed."""

    judgments = serializers.IntegerField()
    last_hour = serializers.IntegerField()
    last_24h = serializers.IntegerField()
    gold_answered = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    seconds_per_judgment = serializers.FloatField(allow_null=True)
    workers = serializers.IntegerField()
    workers_active = serializers.IntegerField()
    workers_blocked = serializers.IntegerField()
    seats = serializers.IntegerField(allow_null=True)
    seats_used = serializers.FloatField(allow_null=True)


class StatsVendorSerializer(StatsGroupSerializer):
    vendor = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    centers = serializers.IntegerField()


class StatsCenterSerializer(StatsGroupSerializer):
    center = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    vendor = serializers.IntegerField(allow_null=True)
    vendor_name = serializers.CharField(allow_null=True)


class ProjectStatsOutputSerializer(serializers.Serializer):
    """SPEC §8's stats with the issue's additions; see docs/stats.md for each figure."""

    project = serializers.IntegerField()
    as_of = serializers.DateTimeField(allow_null=True)
    tasks = StatsTasksSerializer()
    judgments = StatsJudgmentsSerializer()
    gold = StatsGoldSerializer()
    workers = StatsWorkersSerializer()
    throughput = StatsThroughputSerializer()
    quality = StatsQualitySerializer()
    cost = StatsCostSerializer()
    eta_seconds = serializers.IntegerField(allow_null=True)
    vendors = StatsVendorSerializer(many=True)
    centers = StatsCenterSerializer(many=True)


class ProjectStatsApi(ApiView):
    """A project's figures as of the last stats refresh; `?format=csv` as `metric,value` rows."""

    permission_classes = [ManagerOrStaff]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, *EXPORT_RENDERERS]

    class InputSerializer(serializers.Serializer):
        hours = serializers.IntegerField(min_value=1, max_value=24 * 14, default=24)
        days = serializers.IntegerField(min_value=1, max_value=366, default=14)

    @extend_schema(
        parameters=[InputSerializer, OpenApiParameter("format", enum=["json", "jsonl", "csv"])],
        responses=ProjectStatsOutputSerializer,
    )
    def get(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        window = self.InputSerializer(data=request.query_params)
        window.is_valid(raise_exception=True)
        stats.stats_ensure_fresh()
        body = ProjectStatsOutputSerializer(
            selectors_stats.project_stats(project=project, **window.validated_data)
        ).data
        if request.accepted_renderer.format in {"jsonl", "csv"}:
            # Through JSON first: times and dates as the JSON body writes them.
            return Response(_flatten(json.loads(JSONRenderer().render(body))))
        return Response(body)


class ProjectWorkerOutputSerializer(serializers.Serializer):
    worker = serializers.IntegerField()
    username = serializers.CharField()
    vendor = serializers.IntegerField(allow_null=True)
    center = serializers.IntegerField(allow_null=True)
    judgments = serializers.IntegerField()
    seconds_per_task = serializers.FloatField(allow_null=True)
    gold_seen = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    accuracy_estimate = serializers.FloatField()
    blocked = serializers.BooleanField()
    earned = serializers.CharField()
    last_submitted_at = serializers.DateTimeField(allow_null=True)


class ProjectWorkerFilter(django_filters.FilterSet):
    judgments_min = django_filters.NumberFilter(field_name="judgments", lookup_expr="gte")
    accuracy_below = django_filters.NumberFilter(field_name="accuracy_estimate", lookup_expr="lt")
    accuracy_at_least = django_filters.NumberFilter(
        field_name="accuracy_estimate", lookup_expr="gte"
    )
    username = django_filters.CharFilter(field_name="username", lookup_expr="icontains")

    class Meta:
        model = ProjectWorkerStats
        fields = ["worker", "vendor", "center", "blocked"]


class WorkerTieBreakOrdering(OrderingFilter):
    """`?ordering=` with the worker id as the last key, so that rows equal on the requested
    columns keep one order and pages neither repeat nor skip a row."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if not ordering or {"worker", "-worker", "worker_id"} & set(ordering):
            return ordering
        return [*ordering, "worker_id"]


class ProjectWorkersApi(ApiView):
    """Per worker on a project, as of the last stats refresh: sortable (`?ordering=`), filterable;
    `?format=csv` or `?format=jsonl` streams every row."""

    permission_classes = [ManagerOrStaff]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, *EXPORT_RENDERERS]
    queryset = ProjectWorkerStats.objects.none()  # for the schema; rows come from the selector
    filterset_class = ProjectWorkerFilter
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, WorkerTieBreakOrdering]
    ordering_fields = [
        "worker",
        "username",
        "judgments",
        "seconds_per_task",
        "gold_seen",
        "gold_correct",
        "accuracy_estimate",
        "blocked",
        "earned",
        "last_submitted_at",
    ]

    @extend_schema(
        responses=ProjectWorkerOutputSerializer(many=True),
        parameters=[OpenApiParameter("format", enum=["json", "jsonl", "csv"])],
    )
    def get(self, request, project_id: int):
        project = selectors.project_get_for_user(user=request.user, project_id=project_id)
        stats.stats_ensure_fresh()
        rows = self.filter_queryset(selectors_stats.project_worker_list(project=project))
        renderer = request.accepted_renderer
        if renderer.format in {"jsonl", "csv"}:
            return stream_response(
                renderer,
                selectors_stats.WORKER_COLUMNS,
                (
                    ProjectWorkerOutputSerializer(
                        selectors_stats.worker_row(row, project.currency)
                    ).data
                    for row in rows.iterator(chunk_size=2000)
                ),
                filename=f"project-{project.pk}-workers",
            )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(
            ProjectWorkerOutputSerializer(
                [selectors_stats.worker_row(row, project.currency) for row in page], many=True
            ).data
        )


class ThroughputReportApi(ApiView):
    """Judgments per group and hour or day over the projects the caller manages (staff: all);
    `?format=csv` exports the page."""

    permission_classes = [ManagerOrStaff]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, *EXPORT_RENDERERS]
    filter_backends = []

    class InputSerializer(serializers.Serializer):
        group_by = serializers.ChoiceField(choices=list(selectors_stats.GROUPS))
        interval = serializers.ChoiceField(choices=["hour", "day"], default="hour")
        start = serializers.DateTimeField(required=False)
        end = serializers.DateTimeField(required=False)

        # Longest windows, so that a report reads a bounded number of hourly rows.
        LONGEST = {"hour": datetime.timedelta(days=14), "day": datetime.timedelta(days=366)}
        DEFAULT = {"hour": datetime.timedelta(hours=24), "day": datetime.timedelta(days=30)}

        def validate(self, attrs):
            interval = attrs["interval"]
            end = attrs.get("end") or timezone.now()
            start = attrs.get("start") or end - self.DEFAULT[interval]
            if start >= end:
                raise serializers.ValidationError({"start": ["Must be before end."]})
            if end - start > self.LONGEST[interval]:
                raise serializers.ValidationError(
                    {"start": [f"The window is at most {self.LONGEST[interval].days} days."]}
                )
            return {**attrs, "start": start, "end": end}

    class OutputSerializer(serializers.Serializer):
        group = serializers.JSONField()
        name = serializers.CharField(allow_null=True)
        period = serializers.DateTimeField()
        judgments = serializers.IntegerField()
        gold_answered = serializers.IntegerField()
        gold_correct = serializers.IntegerField()
        gold_accuracy = serializers.FloatField(allow_null=True)
        seconds_per_judgment = serializers.FloatField(allow_null=True)

    @extend_schema(
        parameters=[InputSerializer, OpenApiParameter("format", enum=["json", "jsonl", "csv"])],
        responses=OutputSerializer(many=True),
    )
    def get(self, request):
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        group_by = query.validated_data["group_by"]
        stats.stats_ensure_fresh()
        page = self.paginate_queryset(
            selectors_stats.throughput_report(user=request.user, **query.validated_data)
        )
        names = selectors_stats.group_names(group_by, {row["group"] for row in page})
        return self.get_paginated_response(
            self.OutputSerializer(
                [
                    {
                        **row,
                        "name": names.get(row["group"]),
                        "gold_accuracy": (
                            row["gold_correct"] / row["gold_answered"]
                            if row["gold_answered"]
                            else None
                        ),
                        "seconds_per_judgment": (
                            row["seconds"] / row["judgments"] if row["judgments"] else None
                        ),
                    }
                    for row in page
                ],
                many=True,
            ).data
        )
