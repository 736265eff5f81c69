"""Settings for the test suite: the base settings plus what makes tests fast and isolated.

Tasks run eagerly (in-process, same code as the worker) unless a test asks for the live worker
that `.ci/run` starts on Redis; see tests/conftest.py `live_worker`.
"""

import os

os.environ.setdefault("SECRET_KEY", "baton-test-secret-key-not-for-production")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("HTTPS", "0")

from crm.settings.base import *  # noqa: F403
from crm.settings.base import REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A connection per request or task, closed after it: the live worker CI starts on the test database
# (with these settings) must not hold connections that keep pytest from dropping it at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0
CELERY_TASK_ALWAYS_EAGER = True
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
