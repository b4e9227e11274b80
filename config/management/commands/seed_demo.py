"""Demo data for `make demo`: vendors, centers, workers, skills, a manager, staff and a project.

Goes through the same services as the API. Running it again changes nothing.
"""

from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from marketplace.services.projects import project_create, project_transition
from marketplace.services.tasks import task_bulk_create
from workforce import selectors, services
from workforce.models import LanguageLevel, Role, User, Vendor

PASSWORD = "demo-pass-123"

SKILLS = [
    ("ner", "Named-entity labelling"),
    ("asr", "Speech transcription"),
    ("rlhf", "LLM preference ranking"),
    ("bbox", "Image bounding boxes"),
]

VENDORS = [
    # name, country, admin, status, centers: (name, country, city, timezone, languages, seats)
    (
        "Acme BPO",
        "PH",
        "acme_admin",
        Vendor.Status.APPROVED,
        [
            ("Manila 1", "PH", "Manila", "Asia/Manila", ["en", "fil"], 120),
            ("Cebu", "PH", "Cebu", "Asia/Manila", ["en", "fil", "ceb"], 60),
        ],
    ),
    (
        "Globex Staffing",
        "IN",
        "globex_admin",
        Vendor.Status.APPROVED,
        [("Pune", "IN", "Pune", "Asia/Kolkata", ["en", "hi", "mr"], 200)],
    ),
    ("Initech Pending", "KE", "initech_admin", Vendor.Status.PENDING, []),
]


def _demo_worker(username: str, *, languages, skills) -> services.WorkerSpec:
    return services.WorkerSpec(
        username=username,
        email=f"{username}@example.com",
        password=PASSWORD,
        languages=languages,
        skills=skills,
    )


class Command(BaseCommand):
    help = "Loads demo vendors, centers, workers, skills and accounts (idempotent)."

    def handle(self, *args, **options):
        if User.objects.filter(username="demo_staff").exists():
            self.stdout.write("Demo data already loaded.")
        else:
            with transaction.atomic():
                self._seed()
        self._print_logins()

    def _seed(self):
        User.objects.create_superuser("demo_staff", "staff@example.com", PASSWORD)
        manager = services.manager_create(
            username="demo_manager", email="pm@example.com", password=PASSWORD
        )
        self._seed_workforce()
        self._seed_project(manager)

    def _seed_project(self, manager):
        """A published sentiment project with 200 reviews to label and 20 gold questions."""
        project = project_create(
            user=manager,
            settings={
                "name": "Product review sentiment",
                "client": "Demo Retail",
                "instructions": "Is the review positive, negative or neutral?",
                "task_type": "classification",
                "labels": ["positive", "negative", "neutral"],
                "overlap": 3,
                "gold_ratio": 0.1,
                "rate": Decimal("0.0200"),
            },
            languages=["en"],
        )
        moods = [
            ("Love it, works great", "positive"),
            ("Broke after a day", "negative"),
            ("It is a phone case", "neutral"),
        ]
        rows = [{"data": {"review": f"{moods[n % 3][0]} (#{n})"}} for n in range(200)]
        rows += [
            {"data": {"review": f"{moods[n % 3][0]} (#{200 + n})"}, "gold_answer": moods[n % 3][1]}
            for n in range(20)
        ]
        task_bulk_create(project=project, rows=rows)
        project_transition(project=project, action="publish")

    def _seed_workforce(self):
        for slug, name in SKILLS:
            services.skill_create(slug=slug, name=name)
        skills = selectors.skills_by_slug(slugs=[slug for slug, _ in SKILLS])
        for name, country, admin, status, centers in VENDORS:
            vendor = services.vendor_register(
                name=name,
                country=country,
                admin_username=admin,
                admin_email=f"{admin}@example.com",
                admin_password=PASSWORD,
            )
            if status != Vendor.Status.PENDING:
                services.vendor_status_change(vendor=vendor, to=status)
            for center_index, (center_name, ccountry, city, tz, languages, seats) in enumerate(
                centers
            ):
                center = services.center_create(
                    vendor=vendor,
                    name=center_name,
                    country=ccountry,
                    city=city,
                    timezone=tz,
                    languages=languages,
                    seats=seats,
                )
                services.worker_bulk_create(
                    center=center,
                    specs=[
                        _demo_worker(
                            f"{admin.split('_')[0]}{center_index}_w{n}",
                            languages=[
                                ("en", LanguageLevel.C1),
                                (languages[1], LanguageLevel.NATIVE),
                            ],
                            skills=[(skills["ner"], 60 + 5 * n), (skills["rlhf"], 50)],
                        )
                        for n in range(5)
                    ],
                )
        services.worker_bulk_create(
            center=None,
            specs=[
                _demo_worker(
                    f"freelancer{n}",
                    languages=[("en", LanguageLevel.NATIVE), ("es", LanguageLevel.B2)],
                    skills=[(skills["asr"], 80), (skills["ner"], 70)],
                )
                for n in range(3)
            ],
        )

    def _print_logins(self):
        self.stdout.write(f"Demo logins (password for all: {PASSWORD}):")
        for role in Role:
            names = User.objects.filter(role=role).order_by("id").values_list("username", flat=True)
            self.stdout.write(f"  {role.value:<13} {', '.join(names[:6])}")
