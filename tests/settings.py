"""Settings for the test suite: the product's settings, with a fixed key and a fast hasher."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")

from config.settings import *  # noqa: F403

# Hashing with production Argon2 parameters would dominate the suite's run time.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Unit tests run jobs in-process; tests that use the `celery_worker` fixture (tests/conftest.py)
# switch this off and run them on a real worker process over Redis.
CELERY_TASK_ALWAYS_EAGER = True
