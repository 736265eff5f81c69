"""Email-domain helpers shared by ingestion, companies and (later) fit scoring."""

from __future__ import annotations

from urllib.parse import urlsplit

# Consumer mailbox providers: a lead from these has no company to infer.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com",
        "hotmail.com", "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com",
        "aol.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com",
        "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.com", "yandex.ru",
        "zoho.com", "fastmail.com", "hey.com", "qq.com", "163.com", "126.com", "orange.fr",
        "free.fr", "laposte.net", "libero.it", "t-online.de", "btinternet.com",
    }
)  # fmt: skip


def normalise_domain(value: str) -> str:
    """`https://WWW.Acme.com/path` -> `acme.com`; an email address gives its domain."""
    value = (value or "").strip().lower()
    if "@" in value:
        value = value.rsplit("@", 1)[1]
    if "://" in value:
        value = urlsplit(value).hostname or ""
    value = value.split("/", 1)[0].split(":", 1)[0].rstrip(".")
    if value.startswith("www."):
        value = value[4:]
    return value


def is_free_mail_domain(domain: str) -> bool:
    return normalise_domain(domain) in FREE_MAIL_DOMAINS
