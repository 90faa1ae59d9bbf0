from tests.api.conftest import (  # noqa: F401 - shared fixtures
    _fast_password_hashing,
    allow_private,
    eager_celery,
    keys,
    receiver,
    telephony,
)
