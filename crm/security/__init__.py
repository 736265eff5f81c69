"""Signing in and staying safe: two-factor sign-in (django-otp), API tokens that expire and can be
revoked (django-rest-knox), and lockouts of password guessing per username and per address
(django-axes). A Django app of its own (label `security`), so its models and migrations stay apart
from the rest of `crm`."""
