"""Writes of the workforce app: vendors, delivery centers, workers, managers, skills."""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from config.errors import InvalidInputError
from workforce.exceptions import UsernameTakenError, VendorReadOnlyError, VendorStatusConflictError
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

# target status → the statuses it may be reached from (SPEC §3)
_VENDOR_TRANSITIONS: dict[str, tuple[str, ...]] = {
    Vendor.Status.APPROVED: (Vendor.Status.PENDING, Vendor.Status.SUSPENDED),
    Vendor.Status.REJECTED: (Vendor.Status.PENDING,),
    Vendor.Status.SUSPENDED: (Vendor.Status.APPROVED,),
}


@dataclass(frozen=True)
class WorkerSpec:
    username: str
    email: str
    password: str
    languages: Sequence[tuple[str, LanguageLevel]] = field(default_factory=tuple)
    skills: Sequence[tuple[Skill, int]] = field(default_factory=tuple)


def _hash_passwords(passwords: Sequence[str]) -> list[str]:
    # Password hashing is deliberately slow; the Argon2 binding releases the GIL, so threads
    # spread a bulk onboarding over all cores. Done before any transaction opens.
    if len(passwords) < 8:
        return [make_password(password) for password in passwords]
    with ThreadPoolExecutor() as pool:
        return list(pool.map(make_password, passwords, chunksize=32))


def user_token_get_or_create(*, user: User) -> str:
    """The user's API token, created on first login; the same token on every later login."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def vendor_assert_writable(*, vendor: Vendor) -> None:
    """A rejected vendor is read-only: raises VendorReadOnlyError (403)."""
    if vendor.status == Vendor.Status.REJECTED:
        raise VendorReadOnlyError()


def vendor_register(
    *, name: str, country: str, admin_username: str, admin_email: str, admin_password: str
) -> Vendor:
    """Creates a pending vendor and its first admin account together, or neither."""
    password_hash = make_password(admin_password)
    try:
        with transaction.atomic():
            vendor = Vendor.objects.create(name=name, country=country)
            User.objects.create(
                username=admin_username,
                email=admin_email,
                password=password_hash,
                role=Role.VENDOR_ADMIN,
                vendor=vendor,
            )
    except IntegrityError:
        raise UsernameTakenError(
            "The vendor name or the admin username was taken at the same time."
        ) from None
    return vendor


def vendor_status_change(*, vendor: Vendor, to: str) -> Vendor:
    """Moves a vendor along its status machine with one conditional UPDATE.

    Idempotent: asking for the status it already has changes nothing. Raises
    VendorStatusConflictError (409) for a transition SPEC §3 does not allow.
    """
    sources = _VENDOR_TRANSITIONS[to]
    changed = Vendor.objects.filter(pk=vendor.pk, status__in=sources).update(
        status=to, status_changed_at=timezone.now()
    )
    vendor.refresh_from_db()
    if not changed and vendor.status != to:
        raise VendorStatusConflictError(f"A {vendor.status} vendor cannot become {to}.")
    return vendor


def center_create(
    *,
    vendor: Vendor,
    name: str,
    country: str,
    city: str,
    timezone: str,
    languages: Sequence[str],
    seats: int,
    status: str = DeliveryCenter.Status.ACTIVE,
) -> DeliveryCenter:
    vendor_assert_writable(vendor=vendor)
    try:
        with transaction.atomic():
            return DeliveryCenter.objects.create(
                vendor=vendor,
                name=name,
                country=country,
                city=city,
                timezone=timezone,
                languages=list(languages),
                seats=seats,
                status=status,
            )
    except IntegrityError:
        raise _center_name_taken() from None


def center_update(*, center: DeliveryCenter, changes: dict) -> DeliveryCenter:
    """Applies validated field changes (name, country, city, timezone, languages, seats, status)."""
    vendor_assert_writable(vendor=center.vendor)
    for name, value in changes.items():
        setattr(center, name, value)
    try:
        with transaction.atomic():
            center.save(update_fields=[*changes])
    except IntegrityError:
        raise _center_name_taken() from None
    return center


def _center_name_taken() -> InvalidInputError:
    return InvalidInputError(fields={"name": ["This vendor already has a center with this name."]})


def worker_bulk_create(*, center: DeliveryCenter | None, specs: Sequence[WorkerSpec]) -> list[int]:
    """Creates workers all-or-nothing, with a fixed number of queries whatever their number.

    `center=None` makes freelancers. Returns the new workers' ids in input order. Raises
    VendorReadOnlyError for a rejected vendor's center and UsernameTakenError when another
    request took a username between validation and insert.
    """
    if center is not None:
        vendor_assert_writable(vendor=center.vendor)
    hashes = _hash_passwords([spec.password for spec in specs])
    kind = Worker.Kind.FREELANCER if center is None else Worker.Kind.VENDOR
    try:
        with transaction.atomic():
            users = User.objects.bulk_create(
                User(username=s.username, email=s.email, password=h, role=Role.WORKER)
                for s, h in zip(specs, hashes, strict=True)
            )
            workers = Worker.objects.bulk_create(
                Worker(user=user, kind=kind, center=center) for user in users
            )
            WorkerLanguage.objects.bulk_create(
                WorkerLanguage(worker=worker, code=code, level=level)
                for worker, spec in zip(workers, specs, strict=True)
                for code, level in spec.languages
            )
            WorkerSkill.objects.bulk_create(
                WorkerSkill(worker=worker, skill=skill, level=level)
                for worker, spec in zip(workers, specs, strict=True)
                for skill, level in spec.skills
            )
    except IntegrityError:
        raise UsernameTakenError() from None
    return [worker.pk for worker in workers]


def worker_set_status(*, worker: Worker, status: str) -> Worker:
    """Suspends or reinstates a worker; idempotent."""
    if worker.center_id is not None:
        vendor_assert_writable(vendor=worker.center.vendor)
    Worker.objects.filter(pk=worker.pk).update(status=status)
    worker.status = status
    return worker


def worker_skill_grant(*, worker_id: int, skill: Skill, level: int) -> None:
    """Raises the worker's level in the skill to `level` (never lowers it); idempotent."""
    rows = WorkerSkill.objects.filter(worker_id=worker_id, skill=skill)
    if rows.update(level=Greatest(F("level"), Value(level))):
        return
    try:
        with transaction.atomic():
            WorkerSkill.objects.create(worker_id=worker_id, skill=skill, level=level)
    except IntegrityError:
        # Granted by another request in between: raise it there instead.
        rows.update(level=Greatest(F("level"), Value(level)))


def manager_create(*, username: str, email: str, password: str) -> User:
    try:
        return User.objects.create_user(
            username=username, email=email, password=password, role=Role.MANAGER
        )
    except IntegrityError:
        raise UsernameTakenError("This username was taken at the same time.") from None


def skill_create(*, slug: str, name: str) -> Skill:
    try:
        with transaction.atomic():
            return Skill.objects.create(slug=slug, name=name)
    except IntegrityError:
        raise InvalidInputError(
            fields={"slug": ["A skill with this slug already exists."]}
        ) from None


def skill_update(*, skill: Skill, name: str) -> Skill:
    skill.name = name
    skill.save(update_fields=["name"])
    return skill
