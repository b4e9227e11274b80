import factory
from django.contrib.auth.hashers import make_password

from workforce.models import (
    DeliveryCenter,
    LanguageLevel,
    Role,
    Skill,
    User,
    Vendor,
    Worker,
    WorkerLanguage,
    WorkerSkill,
)

PASSWORD = "correct-horse-battery"


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vendor

    name = factory.Sequence(lambda n: f"Vendor {n}")
    country = "PH"
    status = Vendor.Status.APPROVED


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.LazyFunction(lambda: make_password(PASSWORD))
    role = Role.WORKER


class StaffFactory(UserFactory):
    role = Role.STAFF
    is_staff = True


class ManagerFactory(UserFactory):
    role = Role.MANAGER


class VendorAdminFactory(UserFactory):
    role = Role.VENDOR_ADMIN
    vendor = factory.SubFactory(VendorFactory)


class CenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeliveryCenter

    vendor = factory.SubFactory(VendorFactory)
    name = factory.Sequence(lambda n: f"Center {n}")
    country = "PH"
    city = "Manila"
    timezone = "Asia/Manila"
    languages = factory.LazyFunction(lambda: ["en", "fil"])
    seats = 100


class SkillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Skill
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"skill-{n}")
    name = factory.LazyAttribute(lambda s: s.slug.title())


class WorkerFactory(factory.django.DjangoModelFactory):
    """A vendor worker by default; `freelancer=True` makes one with no center."""

    class Meta:
        model = Worker
        skip_postgeneration_save = True

    class Params:
        freelancer = factory.Trait(kind=Worker.Kind.FREELANCER, center=None)

    user = factory.SubFactory(UserFactory)
    kind = Worker.Kind.VENDOR
    center = factory.SubFactory(CenterFactory)

    @factory.post_generation
    def languages(worker, create, extracted, **kwargs):
        for code, level in (extracted or {"en": "native"}).items():
            WorkerLanguage.objects.create(
                worker=worker, code=code, level=LanguageLevel.from_label(level)
            )

    @factory.post_generation
    def skills(worker, create, extracted, **kwargs):
        for slug, level in (extracted or {}).items():
            WorkerSkill.objects.create(worker=worker, skill=SkillFactory(slug=slug), level=level)


def project_create(manager, **settings):
    """A project made through the service, as the API would; active unless `status` says so."""
    from marketplace.services import projects

    status = settings.pop("status", "active")
    languages = settings.pop("languages", ["en"])
    allowed_vendors = settings.pop("allowed_vendors", [])
    settings.setdefault("name", "Sentiment")
    settings.setdefault("task_type", "classification")
    if settings["task_type"] in {"classification", "multi_label", "bbox"}:
        settings.setdefault("labels", ["positive", "negative", "neutral"])
    project = projects.project_create(
        user=manager, settings=settings, languages=languages, allowed_vendors=allowed_vendors
    )
    if status != "draft":
        projects.project_transition(project=project, action="publish")
    if status not in {"draft", "active"}:
        project.status = status
        project.save(update_fields=["status"])
    project.refresh_from_db()
    return project


def tasks_create(project, count: int, *, gold: int = 0, answer="positive") -> None:
    from marketplace.services import tasks

    rows = [{"data": {"text": f"item {n}"}} for n in range(count)]
    rows += [{"data": {"text": f"item {count + n}"}, "gold_answer": answer} for n in range(gold)]
    tasks.task_bulk_create(project=project, rows=rows)
