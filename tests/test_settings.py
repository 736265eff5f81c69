"""Settings from the environment: production values pass Django's deployment checklist, and
bad or missing values stop the process with a message naming the variable.

Each case runs `manage.py` in a fresh interpreter, because settings are read once at import.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

# Only what a process needs to run; everything Baton reads is set explicitly per case, so the
# developer's or CI's own DATABASE_URL, REDIS_URL, DEBUG... cannot leak in.
_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {name: os.environ[name] for name in _PASSTHROUGH if name in os.environ}
    return subprocess.run(  # noqa: S603 (fixed command, our own interpreter)
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    """What an operator sets in production; HTTPS is left to its default (on when DEBUG is off)."""
    return {
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "baton.example.com",
        "BATON_DATA_DIR": str(tmp_path),
    }


def test_production_settings_pass_the_deployment_checklist(production_env):
    assert len(production_env["SECRET_KEY"]) >= 50

    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_missing_secret_key_with_debug_off_stops_with_a_clear_message(production_env):
    del production_env["SECRET_KEY"]

    result = manage("check", env=production_env)

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize("value", ["maybe", "2", "debug"])
def test_an_invalid_debug_value_stops_with_a_clear_message(production_env, value):
    production_env["DEBUG"] = value

    result = manage("check", env=production_env)

    assert result.returncode != 0
    assert f"DEBUG must be a boolean (1/0, true/false), got '{value}'" in result.stderr


def test_debug_on_needs_no_secret_key_and_serves_localhost(tmp_path):
    env = {"DJANGO_SETTINGS_MODULE": "crm.settings.base", "DEBUG": "1", "BATON_DATA_DIR": str(tmp_path)}

    result = manage("diffsettings", "--output", "unified", env=env)

    assert result.returncode == 0, result.stderr
    assert "+ ALLOWED_HOSTS = ['127.0.0.1', 'localhost']" in result.stdout
    assert "+ DEBUG = True" in result.stdout


def test_api_tokens_that_never_expire_are_refused(production_env):
    production_env["BATON_API_TOKEN_DAYS"] = "0"

    result = manage("check", env=production_env)

    assert result.returncode != 0
    assert "ImproperlyConfigured: BATON_API_TOKEN_DAYS must be 1 or more, got 0" in result.stderr


def test_production_sends_a_content_security_policy_and_can_require_two_factor(production_env):
    production_env["BATON_REQUIRE_2FA_FOR_MANAGERS"] = "1"

    result = manage("diffsettings", "--output", "unified", env=production_env)

    assert result.returncode == 0, result.stderr
    assert "+ BATON_REQUIRE_2FA_FOR_MANAGERS = True" in result.stdout
    assert """'script-src': ["'self'"], 'style-src': ["'self'"]""" in result.stdout
