"""HTTP API of the workforce app: auth, vendors, delivery centers, workers, managers, skills, me."""

from collections import Counter

import django_filters
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from config.api import ApiView
from workforce import selectors, services
from workforce.fields import CountryField, LanguageCodeField, TimezoneField, unique_list
from workforce.models import DeliveryCenter, LanguageLevel, Role, Skill, Vendor, Worker
from workforce.permissions import ManagerOrStaff, StaffOnly, VendorAdminOrStaff, roles_allowed

MAX_WORKERS_PER_REQUEST = 10_000


class PasswordField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(write_only=True, trim_whitespace=False, max_length=128, **kwargs)

    def to_internal_value(self, data):
        password = super().to_internal_value(data)
        try:
            validate_password(password)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None
        return password


class UsernameField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=150, validators=[UnicodeUsernameValidator()], **kwargs)


# --- auth -------------------------------------------------------------------------------------


class TokenObtainApi(ApiView):
    permission_classes = [AllowAny]
    authentication_classes = []

    def get_authenticate_header(self, request):
        # Stale tokens are ignored here, yet wrong credentials must still answer 401, not 403.
        return "Token"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request=request, **data.validated_data)
        if user is None:
            raise exceptions.AuthenticationFailed("Unable to log in with these credentials.")
        return Response({"token": services.user_token_get_or_create(user=user)})


# --- vendors ----------------------------------------------------------------------------------


class VendorOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vendor
        fields = ["id", "name", "country", "status", "created_at", "status_changed_at"]


class VendorFilter(django_filters.FilterSet):
    class Meta:
        model = Vendor
        fields = ["status", "country"]


class AccountInputSerializer(serializers.Serializer):
    """A new account's credentials: a vendor's first admin, or a manager."""

    username = UsernameField()
    email = serializers.EmailField()
    password = PasswordField()

    def validate_username(self, username):
        if selectors.usernames_taken(usernames=[username]):
            raise serializers.ValidationError("This username is taken.")
        return username


class VendorRegisterApi(ApiView):
    permission_classes = [AllowAny]
    authentication_classes = []

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        country = CountryField()
        admin = AccountInputSerializer()

        def validate_name(self, name):
            if selectors.vendor_name_taken(name=name):
                raise serializers.ValidationError("A vendor with this name already exists.")
            return name

    @extend_schema(request=InputSerializer, responses={201: VendorOutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        admin = data.validated_data["admin"]
        vendor = services.vendor_register(
            name=data.validated_data["name"],
            country=data.validated_data["country"],
            admin_username=admin["username"],
            admin_email=admin["email"],
            admin_password=admin["password"],
        )
        return Response(VendorOutputSerializer(vendor).data, status=status.HTTP_201_CREATED)


class VendorListApi(ApiView):
    queryset = Vendor.objects.none()  # for the schema; rows come from the selector
    permission_classes = [VendorAdminOrStaff]
    filterset_class = VendorFilter
    ordering_fields = ["id", "name", "created_at"]

    @extend_schema(responses=VendorOutputSerializer(many=True))
    def get(self, request):
        vendors = selectors.vendor_list_for_user(user=request.user)
        return self.list_response(vendors, VendorOutputSerializer)


class VendorDetailApi(ApiView):
    permission_classes = [VendorAdminOrStaff]

    @extend_schema(responses=VendorOutputSerializer)
    def get(self, request, vendor_id: int):
        vendor = selectors.vendor_get_for_user(user=request.user, vendor_id=vendor_id)
        return Response(VendorOutputSerializer(vendor).data)


class VendorStatusChangeApi(ApiView):
    """approve / reject / suspend: one operation, the target status set per URL."""

    permission_classes = [StaffOnly]
    target: str = ""

    @extend_schema(request=None, responses=VendorOutputSerializer)
    def post(self, request, vendor_id: int):
        vendor = selectors.vendor_get_for_user(user=request.user, vendor_id=vendor_id)
        vendor = services.vendor_status_change(vendor=vendor, to=self.target)
        return Response(VendorOutputSerializer(vendor).data)


# --- delivery centers -------------------------------------------------------------------------


class CenterOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryCenter
        fields = [
            "id",
            "vendor",
            "name",
            "country",
            "city",
            "timezone",
            "languages",
            "seats",
            "status",
            "created_at",
        ]


class CenterInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    country = CountryField()
    city = serializers.CharField(max_length=200)
    timezone = TimezoneField()
    languages = serializers.ListField(child=LanguageCodeField(), max_length=200)
    seats = serializers.IntegerField(min_value=0, max_value=1_000_000)
    status = serializers.ChoiceField(choices=DeliveryCenter.Status.choices, required=False)

    def validate_languages(self, languages):
        unique_list(languages, "Languages")
        return languages


class CenterFilter(django_filters.FilterSet):
    class Meta:
        model = DeliveryCenter
        fields = ["status", "country"]


class VendorCentersApi(ApiView):
    queryset = DeliveryCenter.objects.none()  # for the schema; rows come from the selector
    permission_classes = [VendorAdminOrStaff]
    filterset_class = CenterFilter
    ordering_fields = ["id", "name", "country", "seats"]

    @extend_schema(responses=CenterOutputSerializer(many=True))
    def get(self, request, vendor_id: int):
        vendor = selectors.vendor_get_for_user(user=request.user, vendor_id=vendor_id)
        return self.list_response(vendor.centers.all(), CenterOutputSerializer)

    @extend_schema(request=CenterInputSerializer, responses={201: CenterOutputSerializer})
    def post(self, request, vendor_id: int):
        vendor = selectors.vendor_get_for_user(user=request.user, vendor_id=vendor_id)
        data = CenterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        center = services.center_create(vendor=vendor, **data.validated_data)
        return Response(CenterOutputSerializer(center).data, status=status.HTTP_201_CREATED)


class CenterDetailApi(ApiView):
    permission_classes = [VendorAdminOrStaff]

    @extend_schema(responses=CenterOutputSerializer)
    def get(self, request, center_id: int):
        center = selectors.center_get_for_user(user=request.user, center_id=center_id)
        return Response(CenterOutputSerializer(center).data)

    @extend_schema(request=CenterInputSerializer(partial=True), responses=CenterOutputSerializer)
    def patch(self, request, center_id: int):
        center = selectors.center_get_for_user(user=request.user, center_id=center_id)
        data = CenterInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        center = services.center_update(center=center, changes=data.validated_data)
        return Response(CenterOutputSerializer(center).data)


# --- workers ----------------------------------------------------------------------------------


class LanguageEntrySerializer(serializers.Serializer):
    code = LanguageCodeField()
    level = serializers.ChoiceField(choices=LanguageLevel.labels)

    def to_representation(self, instance):
        return {"code": instance.code, "level": LanguageLevel(instance.level).label}


class SkillEntrySerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    level = serializers.IntegerField(min_value=0, max_value=100)

    def validate_slug(self, slug):
        if slug not in self.context["skills"]:
            raise serializers.ValidationError(f"Unknown skill '{slug}'.")
        return slug

    def to_representation(self, instance):
        return {"slug": instance.skill.slug, "level": instance.level}


class WorkerInputSerializer(serializers.Serializer):
    """One worker to create. Lookups for the whole request are made once, see `_lookups`."""

    username = UsernameField()
    email = serializers.EmailField()
    password = PasswordField()
    languages = LanguageEntrySerializer(many=True, required=False, max_length=50)
    skills = SkillEntrySerializer(many=True, required=False, max_length=200)

    def validate_username(self, username):
        if username in self.context["taken"]:
            raise serializers.ValidationError("This username is taken.")
        if username in self.context["repeated"]:
            raise serializers.ValidationError(
                "This username appears more than once in the request."
            )
        return username

    def validate_languages(self, languages):
        unique_list([entry["code"] for entry in languages], "Languages")
        return languages

    def validate_skills(self, skills):
        unique_list([entry["slug"] for entry in skills], "Skills")
        return skills

    def to_spec(self, row: dict) -> services.WorkerSpec:
        return services.WorkerSpec(
            username=row["username"],
            email=row["email"],
            password=row["password"],
            languages=[
                (entry["code"], LanguageLevel.from_label(entry["level"]))
                for entry in row.get("languages", [])
            ],
            skills=[
                (self.context["skills"][entry["slug"]], entry["level"])
                for entry in row.get("skills", [])
            ],
        )


def _lookups(rows: list) -> dict:
    """Skills and taken usernames for every row of a request, in two queries whatever its size."""
    dicts = [row for row in rows if isinstance(row, dict)]
    usernames = [row["username"] for row in dicts if isinstance(row.get("username"), str)]
    slugs = [
        entry["slug"]
        for row in dicts
        if isinstance(row.get("skills"), list)
        for entry in row["skills"]
        if isinstance(entry, dict) and isinstance(entry.get("slug"), str)
    ]
    return {
        "skills": selectors.skills_by_slug(slugs=slugs),
        "taken": selectors.usernames_taken(usernames=usernames),
        "repeated": {name for name, count in Counter(usernames).items() if count > 1},
    }


class WorkerOutputSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")
    vendor = serializers.IntegerField(source="center.vendor_id", allow_null=True, read_only=True)
    languages = LanguageEntrySerializer(many=True)
    skills = SkillEntrySerializer(many=True)

    class Meta:
        model = Worker
        fields = [
            "id",
            "user",
            "username",
            "email",
            "kind",
            "vendor",
            "center",
            "languages",
            "skills",
            "status",
            "created_at",
        ]


def _create_workers(request, center: DeliveryCenter | None) -> Response:
    """Validates one worker or a list of them all-or-nothing, then creates them."""
    many = isinstance(request.data, list)
    rows = request.data if many else [request.data]
    if many and not rows:
        raise serializers.ValidationError("Send at least one worker.")
    if len(rows) > MAX_WORKERS_PER_REQUEST:
        raise serializers.ValidationError(
            f"At most {MAX_WORKERS_PER_REQUEST} workers per request; split the list."
        )
    data = WorkerInputSerializer(data=request.data, many=many, context=_lookups(rows))
    data.is_valid(raise_exception=True)
    rows = data.validated_data if many else [data.validated_data]
    converter = data.child if many else data
    ids = services.worker_bulk_create(center=center, specs=[converter.to_spec(r) for r in rows])
    workers = selectors.worker_list_by_ids(ids=ids)
    output = (
        WorkerOutputSerializer(workers, many=True) if many else WorkerOutputSerializer(workers[0])
    )
    return Response(output.data, status=status.HTTP_201_CREATED)


class WorkerFilter(django_filters.FilterSet):
    # Scoped so that another vendor's center id answers like an id that does not exist.
    center = django_filters.ModelChoiceFilter(
        queryset=lambda request: selectors.center_list_for_user(user=request.user)
    )

    class Meta:
        model = Worker
        fields = ["status", "kind", "center"]


class CenterWorkersApi(ApiView):
    queryset = Worker.objects.none()  # for the schema; rows come from the selector
    permission_classes = [VendorAdminOrStaff]
    filterset_class = WorkerFilter
    ordering_fields = ["id", "created_at"]

    @extend_schema(responses=WorkerOutputSerializer(many=True))
    def get(self, request, center_id: int):
        center = selectors.center_get_for_user(user=request.user, center_id=center_id)
        workers = selectors.worker_list_for_user(user=request.user).filter(center=center)
        return self.list_response(workers, WorkerOutputSerializer)

    @extend_schema(request=WorkerInputSerializer, responses={201: WorkerOutputSerializer})
    def post(self, request, center_id: int):
        center = selectors.center_get_for_user(user=request.user, center_id=center_id)
        return _create_workers(request, center)


class WorkerRegisterApi(ApiView):
    """Freelancer sign-up: the same fields as onboarding, no center."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=WorkerInputSerializer, responses={201: WorkerOutputSerializer})
    def post(self, request):
        if isinstance(request.data, list):
            raise serializers.ValidationError("Register one worker at a time.")
        return _create_workers(request, None)


class WorkerListApi(ApiView):
    queryset = Worker.objects.none()  # for the schema; rows come from the selector
    permission_classes = [VendorAdminOrStaff]
    filterset_class = WorkerFilter
    ordering_fields = ["id", "created_at"]

    @extend_schema(responses=WorkerOutputSerializer(many=True))
    def get(self, request):
        workers = selectors.worker_list_for_user(user=request.user)
        return self.list_response(workers, WorkerOutputSerializer)


class WorkerDetailApi(ApiView):
    permission_classes = [VendorAdminOrStaff]

    @extend_schema(responses=WorkerOutputSerializer)
    def get(self, request, worker_id: int):
        worker = selectors.worker_get_for_user(user=request.user, worker_id=worker_id)
        return Response(WorkerOutputSerializer(worker).data)


class WorkerStatusChangeApi(ApiView):
    """suspend / reinstate: one operation, the target status set per URL."""

    permission_classes = [VendorAdminOrStaff]
    target: str = ""

    @extend_schema(request=None, responses=WorkerOutputSerializer)
    def post(self, request, worker_id: int):
        worker = selectors.worker_get_for_user(user=request.user, worker_id=worker_id)
        worker = services.worker_set_status(worker=worker, status=self.target)
        return Response(WorkerOutputSerializer(worker).data)


# --- managers and skills ----------------------------------------------------------------------


class UserOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.CharField()


class ManagerCreateApi(ApiView):
    permission_classes = [StaffOnly]

    @extend_schema(request=AccountInputSerializer, responses={201: UserOutputSerializer})
    def post(self, request):
        data = AccountInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        manager = services.manager_create(**data.validated_data)
        return Response(UserOutputSerializer(manager).data, status=status.HTTP_201_CREATED)


class SkillSerializer(serializers.ModelSerializer):
    class Meta:
        model = Skill
        fields = ["id", "slug", "name", "created_at"]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"slug": {"validators": []}}


class SkillUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class SkillsApi(ApiView):
    queryset = Skill.objects.none()  # for the schema
    # Vendor admins read the catalogue too: they need the slugs to onboard their workers.
    permission_classes = [roles_allowed(Role.MANAGER, Role.VENDOR_ADMIN)]
    ordering_fields = ["slug", "name", "created_at"]

    def get_permissions(self):
        if self.request.method == "POST":
            return [ManagerOrStaff()]
        return super().get_permissions()

    @extend_schema(responses=SkillSerializer(many=True))
    def get(self, request):
        return self.list_response(selectors.skill_list(), SkillSerializer)

    @extend_schema(request=SkillSerializer, responses={201: SkillSerializer})
    def post(self, request):
        data = SkillSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        skill = services.skill_create(**data.validated_data)
        return Response(SkillSerializer(skill).data, status=status.HTTP_201_CREATED)


class SkillDetailApi(ApiView):
    permission_classes = [ManagerOrStaff]

    @extend_schema(responses=SkillSerializer)
    def get(self, request, slug: str):
        return Response(SkillSerializer(selectors.skill_get(slug=slug)).data)

    @extend_schema(request=SkillUpdateSerializer, responses=SkillSerializer)
    def patch(self, request, slug: str):
        skill = selectors.skill_get(slug=slug)
        data = SkillUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        skill = services.skill_update(skill=skill, name=data.validated_data["name"])
        return Response(SkillSerializer(skill).data)


# --- me (the endpoint lives in qc, which adds the worker's quality) ---------------------------


class MeWorkerSerializer(serializers.ModelSerializer):
    worker = serializers.IntegerField(source="id")
    vendor = serializers.IntegerField(source="center.vendor_id", allow_null=True, read_only=True)
    languages = LanguageEntrySerializer(many=True)
    skills = SkillEntrySerializer(many=True)

    class Meta:
        model = Worker
        fields = ["worker", "kind", "vendor", "center", "languages", "skills", "status"]


class MeOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()
    role = serializers.CharField()
    vendor = serializers.IntegerField(source="vendor_id", allow_null=True)
