from __future__ import annotations

from django.db import models
from knox.models import AbstractAuthToken


class ApiToken(AbstractAuthToken):
    """An API token (django-rest-knox's model, named): only a SHA-512 digest of the secret is
    stored, the secret itself is shown once, when it is issued. `expiry` is always set
    (`BATON_API_TOKEN_DAYS` after issue); `crm.security.tokens` issues, lists and revokes them."""

    name = models.CharField(max_length=100, blank=True, help_text="What the token is for, to tell tokens apart.")

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name or 'API token'} of {self.user}"
