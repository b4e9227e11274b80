"""Reads of the workforce app, each scoped to what the acting user may see (SPEC §4.7)."""

from collections.abc import Iterable

from django.db.models import Prefetch, Q, QuerySet

from config.errors import NotFoundError
from workforce.models import DeliveryCenter, Role, Skill, User, Vendor, Worker, WorkerSkill


def vendor_list_for_user(*, user: User) -> QuerySet[Vendor]:
    vendors = Vendor.objects.all()
    if user.role == Role.STAFF:
        return vendors
    if user.role == Role.VENDOR_ADMIN:
        return vendors.filter(pk=user.vendor_id)
    return vendors.none()


def vendor_get_for_user(*, user: User, vendor_id: int) -> Vendor:
    vendor = vendor_list_for_user(user=user).filter(pk=vendor_id).first()
    if vendor is None:
        raise NotFoundError("No such vendor.")
    return vendor


def center_list_for_user(*, user: User) -> QuerySet[DeliveryCenter]:
    centers = DeliveryCenter.objects.select_related("vendor")
    if user.role == Role.STAFF:
        return centers
    if user.role == Role.VENDOR_ADMIN:
        return centers.filter(vendor_id=user.vendor_id)
    return centers.none()


def center_get_for_user(*, user: User, center_id: int) -> DeliveryCenter:
    center = center_list_for_user(user=user).filter(pk=center_id).first()
    if center is None:
        raise NotFoundError("No such delivery center.")
    return center


def _with_profile(workers: QuerySet[Worker]) -> QuerySet[Worker]:
    """Everything a worker's representation shows, in a constant number of queries."""
    return workers.select_related("user", "center__vendor").prefetch_related(
        "languages", Prefetch("skills", queryset=WorkerSkill.objects.select_related("skill"))
    )


def worker_list_for_user(*, user: User) -> QuerySet[Worker]:
    workers = _with_profile(Worker.objects.all())
    if user.role == Role.STAFF:
        return workers
    if user.role == Role.VENDOR_ADMIN:
        return workers.filter(center__vendor_id=user.vendor_id)
    return workers.none()


def worker_get_for_user(*, user: User, worker_id: int) -> Worker:
    worker = worker_list_for_user(user=user).filter(pk=worker_id).first()
    if worker is None:
        raise NotFoundError("No such worker.")
    return worker


def worker_list_by_ids(*, ids: Iterable[int]) -> list[Worker]:
    return list(_with_profile(Worker.objects.filter(pk__in=list(ids))).order_by("pk"))


def worker_get_profile(*, user: User) -> Worker | None:
    return _with_profile(Worker.objects.filter(user=user)).first()


def worker_eligibility_q(prefix: str = "") -> Q:
    """Workers who may claim at all, before any project rule (SPEC §4.2, vendor status machine).

    An active freelancer, or an active worker in an active center of an approved vendor.
    `prefix` lets other apps apply it across a relation, e.g. ``worker_eligibility_q("worker__")``.
    """
    return Q(**{f"{prefix}status": Worker.Status.ACTIVE}) & (
        Q(**{f"{prefix}kind": Worker.Kind.FREELANCER})
        | Q(
            **{
                f"{prefix}kind": Worker.Kind.VENDOR,
                f"{prefix}center__status": DeliveryCenter.Status.ACTIVE,
                f"{prefix}center__vendor__status": Vendor.Status.APPROVED,
            }
        )
    )


# The same rule as SQL over `w` (the worker), `c` (its center) and `v` (its vendor), for
# hand-written statements on the claim path; tests hold the two forms to the same answers.
WORKER_ELIGIBLE_SQL = (
    f"w.status = '{Worker.Status.ACTIVE}' AND (w.kind = '{Worker.Kind.FREELANCER}' OR "
    f"(c.status = '{DeliveryCenter.Status.ACTIVE}' AND v.status = '{Vendor.Status.APPROVED}'))"
)
WORKER_ELIGIBLE_FROM = (
    f"{Worker._meta.db_table} w "
    f"LEFT JOIN {DeliveryCenter._meta.db_table} c ON c.id = w.center_id "
    f"LEFT JOIN {Vendor._meta.db_table} v ON v.id = c.vendor_id"
)


def worker_get_eligible(*, user: User) -> Worker | None:
    """The user's worker profile if it may claim now, else None; one query."""
    return (
        Worker.objects.filter(worker_eligibility_q(), user=user)
        .select_related("center__vendor")
        .first()
    )


def skill_list() -> QuerySet[Skill]:
    return Skill.objects.all()


def worker_skill_list(*, worker_id: int) -> QuerySet[WorkerSkill]:
    """A worker's skills, each with the level they hold."""
    return WorkerSkill.objects.filter(worker_id=worker_id)


def skills_by_slug(*, slugs: Iterable[str]) -> dict[str, Skill]:
    return {skill.slug: skill for skill in Skill.objects.filter(slug__in=set(slugs))}


def vendor_name_taken(*, name: str) -> bool:
    return Vendor.objects.filter(name__iexact=name).exists()


def usernames_taken(*, usernames: Iterable[str]) -> set[str]:
    return set(User.objects.filter(username__in=set(usernames)).values_list("username", flat=True))


def skill_get(*, slug: str) -> Skill:
    skill = Skill.objects.filter(slug=slug).first()
    if skill is None:
        raise NotFoundError("No such skill.")
    return skill
