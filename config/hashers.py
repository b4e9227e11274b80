from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idHasher(Argon2PasswordHasher):
    """Argon2id at OWASP's recommended minimum: m=19 MiB, t=2, p=1 (~20 ms a hash here).

    Same algorithm name as Django's hasher: the parameters travel inside each hash, and hashes
    made with other parameters are re-hashed on the next login.
    """

    time_cost = 2
    memory_cost = 19456
    parallelism = 1
