from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    STAFF = "staff"
    MANAGER = "manager"
    VENDOR_ADMIN = "vendor_admin"
    WORKER = "worker"


class LanguageLevel(models.IntegerChoices):
    """CEFR levels then native, stored as ranks so that "at least B2" is a plain comparison."""

    A1 = 1, "A1"
    A2 = 2, "A2"
    B1 = 3, "B1"
    B2 = 4, "B2"
    C1 = 5, "C1"
    C2 = 6, "C2"
    NATIVE = 7, "native"

    @classmethod
    def from_label(cls, label: str) -> "LanguageLevel":
        for level in cls:
            if level.label == label:
                return level
        raise ValueError(f"'{label}' is not a language level ({', '.join(cls.labels)}).")


class Vendor(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"
        SUSPENDED = "suspended"

    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(models.functions.Lower("name"), name="vendor_name_unique_ci"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected", "suspended"]),
                name="vendor_status_valid",
            ),
        ]

    def __str__(self):
        return self.name


class WorkforceUserManager(UserManager):
    def create_superuser(self, username, email=None, password=None, **extra_fields):
        extra_fields.setdefault("role", Role.STAFF)
        return super().create_superuser(username, email, password, **extra_fields)


class User(AbstractUser):
    """Every account. `role` says which API a user may use; a vendor admin belongs to a vendor."""

    role = models.CharField(max_length=16, choices=Role.choices)
    vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="admins"
    )

    objects = WorkforceUserManager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["staff", "manager", "vendor_admin", "worker"]),
                name="user_role_valid",
            ),
            models.CheckConstraint(
                condition=Q(role="vendor_admin", vendor__isnull=False)
                | (~Q(role="vendor_admin") & Q(vendor__isnull=True)),
                name="user_vendor_iff_vendor_admin",
            ),
        ]


class DeliveryCenter(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="centers")
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2)
    city = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64)
    languages = models.JSONField(default=list)
    seats = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint("vendor", "name", name="center_name_unique_per_vendor"),
            models.CheckConstraint(condition=Q(seats__gte=0), name="center_seats_non_negative"),
        ]

    def __str__(self):
        return f"{self.vendor.name} / {self.name}"


class Skill(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug


class Worker(models.Model):
    class Kind(models.TextChoices):
        FREELANCER = "freelancer"
        VENDOR = "vendor"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="worker")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    center = models.ForeignKey(
        DeliveryCenter, null=True, blank=True, on_delete=models.PROTECT, related_name="workers"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="freelancer", center__isnull=True)
                | Q(kind="vendor", center__isnull=False),
                name="worker_center_iff_vendor_kind",
            ),
        ]

    def __str__(self):
        return self.user.username


class WorkerLanguage(models.Model):
    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="languages")
    code = models.CharField(max_length=3)
    level = models.PositiveSmallIntegerField(choices=LanguageLevel.choices)

    class Meta:
        ordering = ["worker", "code"]
        constraints = [
            models.UniqueConstraint("worker", "code", name="worker_language_unique"),
        ]
        indexes = [models.Index(fields=["code", "level"])]

    def __str__(self):
        return f"{self.code}:{LanguageLevel(self.level).label}"


class WorkerSkill(models.Model):
    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="skills")
    skill = models.ForeignKey(Skill, on_delete=models.PROTECT, related_name="worker_skills")
    level = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(100)]
    )

    class Meta:
        ordering = ["worker", "skill"]
        constraints = [
            models.UniqueConstraint("worker", "skill", name="worker_skill_unique"),
            models.CheckConstraint(condition=Q(level__lte=100), name="worker_skill_level_range"),
        ]

    def __str__(self):
        return f"{self.skill_id}:{self.level}"
