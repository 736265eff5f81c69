"""Bringing leads and activities in from other systems: the API, website forms, CSV files.

`activities_ingest` takes a batch of items and answers for each one: created, duplicate (the
same source system + external id was sent before), or error naming the field. Items are
validated one by one, so one bad item never rejects the good ones; the good ones are written
with a handful of set-based queries whatever the batch size (that is what makes thousands per
second possible), all in one transaction, so nothing is ever half-written: one query finds the
leads by email, and one INSERT stores the activities, skipping the (source system, external id)
pairs already stored (see `leads.ingestion_sql`), so re-sent and racing batches are answered
`duplicate` rather than failing. New leads are created on the way, with their company (by
email domain), campaign (by utm_campaign) and creation history — for a sender whose permissions
allow it (`add_lead`, `add_company`, `add_campaign`): for anyone else an unknown email is that
item's error and an unknown company or campaign is left out.

Fifty overlapping batches at once neither deadlock nor fail on a unique constraint: every
get-or-create is `INSERT … ON CONFLICT DO NOTHING` followed by a re-read (companies by domain,
campaigns by slug, leads by email, activities by source system + external id, rescore requests by
lead), and every batch takes those keys in one order — table by table in the order just listed,
each table's rows sorted by its key — so no two batches ever wait for each other in a circle. What
remains possible (a deadlock with another kind of write, such as a lead being promoted while its
activity arrives, or a serialisation failure) rolls the batch back and runs it again, at most
`WRITE_ATTEMPTS` times with a jittered pause: safe, because nothing of a rolled-back attempt is
kept and re-sent items are recognised by their external id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
import unicodedata
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from leads import ingestion_sql, services
from leads.domains import is_free_mail_domain, normalise_domain
from leads.lifecycle import Actor, Stage
from leads.models import Activity, ActivityType, Campaign, Channel, Company, FormSource, Lead, StageTransition

logger = logging.getLogger(__name__)

MAX_ITEMS_PER_BATCH = 5_000
MAX_PROPERTIES_BYTES = 16_384
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # anything older is a typo (or year 1, which breaks dates)
WRITE_ATTEMPTS = 3  # a batch rolled back by a deadlock or a serialisation failure is run again
# PostgreSQL's SQLSTATEs for "roll back and try again": serialization_failure, deadlock_detected.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})

LEAD_FIELDS: dict[str, int] = {  # field -> max length
    "first_name": 100,
    "last_name": 100,
    "job_title": 200,
    "phone": 40,
    "company_name": 200,
}
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
# Each UTM value: what the API documents (UtmSerializer) and what the campaign slug (and its name,
# made from the slug) hold.
UTM_MAX_LENGTH = 200
CAMPAIGN_SLUG_MAX_LENGTH = 200
ITEM_FIELDS = frozenset({"email", "type", "occurred_at", "source_system", "external_id", "properties", "lead", "utm"})

# `dict` first: what JSON parses to, and a much cheaper isinstance check than the Mapping ABC.
_OBJECT = (dict, Mapping)
# The properties as stored: what the JSON field itself would write, and refusing NaN and
# Infinity, which are not JSON (PostgreSQL's jsonb rejects them).
_encode_properties = json.JSONEncoder(allow_nan=False).encode

_SOCIAL_SOURCES = {"linkedin", "facebook", "twitter", "x", "instagram", "youtube", "reddit", "tiktok"}
_SEARCH_SOURCES = {"google", "bing", "duckduckgo", "yahoo", "baidu", "ecosia"}


def channel_from_utm(source: str = "", medium: str = "") -> str:
    """Map utm_source / utm_medium to a first-touch channel, the way marketers tag links."""
    source, medium = (source or "").strip().lower(), (medium or "").strip().lower()
    paid = medium in {"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-social", "paid_social", "cpm"}
    if paid:
        return Channel.PAID_SOCIAL if source in _SOCIAL_SOURCES or "social" in medium else Channel.PAID_SEARCH
    if medium in {"email", "newsletter", "e-mail"}:
        return Channel.EMAIL
    if medium in {"social", "organic_social", "social-organic"} or source in _SOCIAL_SOURCES:
        return Channel.ORGANIC_SOCIAL
    if medium in {"organic", "seo"} or source in _SEARCH_SOURCES:
        return Channel.ORGANIC_SEARCH
    if medium in {"referral", "affiliate"}:
        return Channel.REFERRAL
    if medium in {"event", "tradeshow", "conference"}:
        return Channel.EVENT
    if medium == "webinar":
        return Channel.WEBINAR
    if medium in {"syndication", "content_syndication"}:
        return Channel.CONTENT_SYNDICATION
    if medium == "partner":
        return Channel.PARTNER
    if not source and not medium:
        return Channel.DIRECT
    return Channel.OTHER


@dataclass
class ItemResult:
    index: int
    status: str  # "created" | "duplicate" | "error"
    activity_id: int | None = None
    lead_id: int | None = None
    lead_created: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.status == "error":
            data["errors"] = self.errors
        else:
            data.update(activity_id=self.activity_id, lead_id=self.lead_id, lead_created=self.lead_created)
        return data


@dataclass
class _Item:
    index: int
    email: str
    type: str
    occurred_at: datetime
    source_system: str
    external_id: str
    properties_json: str  # the properties as the JSON text that is stored
    lead: dict[str, str]
    utm: dict[str, str]


def parse_timestamp(value: Any, *, field_name: str = "occurred_at", now: datetime | None = None) -> datetime:
    """An ISO 8601 timestamp with a time zone; refuses naive and future times with a clear message."""
    now = now or timezone.now()
    if isinstance(value, datetime):
        parsed: datetime | None = value
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise ValidationError({field_name: f"“{value}” is not an ISO 8601 date-time, e.g. 2026-11-22T09:30:00Z."})
    if timezone.is_naive(parsed):
        raise ValidationError({field_name: "Give a time zone, e.g. 2026-11-22T09:30:00Z or +01:00."})
    if parsed > now + FUTURE_TOLERANCE:
        raise ValidationError({field_name: "This date-time is in the future."})
    if parsed < EARLIEST:
        raise ValidationError({field_name: "This date-time is before 1970: check the year."})
    return parsed


# Characters no item's text may hold: control characters (NUL, tabs, line breaks, escapes), lone
# surrogates (half of a character, which cannot even be encoded to be stored) and the Unicode line
# and paragraph separators. PostgreSQL cannot store NUL at all: one such value failed the batch.
_NOT_TEXT = frozenset({"Cc", "Cs", "Zl", "Zp"})
# Identifiers and UTM values, which are matched, grouped and shown as given, also refuse invisible
# formatting characters (zero-width spaces, direction marks, soft hyphens) that make two values
# look the same. Names keep them: some scripts need a zero-width joiner.
_NOT_CODE = _NOT_TEXT | {"Cf"}
_TEXT_PROBLEM = "Contains a control character (such as NUL, a tab or a line break) or a lone surrogate."
_CODE_PROBLEM = "Must be printable text: no control, invisible or line-break characters."


def _has_characters(text: str, categories: frozenset[str]) -> bool:
    # Callers ask only when text.isprintable() is false, the fast test: false for every category
    # refused, and for a few allowed ones (non-breaking and other spaces, private use, unassigned).
    return any(unicodedata.category(char) in categories for char in text)


def _text(value: Any, name: str, max_length: int, errors: dict[str, list[str]], *, code: bool = False) -> str:
    """The trimmed text, or "" with the problem added to `errors[name]`. `code`: an identifier or a
    UTM value, which must also be free of invisible characters."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        errors.setdefault(name, []).append("Must be text.")
        return ""
    text = str(value).strip()
    if len(text) > max_length:
        errors.setdefault(name, []).append(f"At most {max_length} characters (got {len(text)}).")
    if not text.isprintable() and _has_characters(text, _NOT_CODE if code else _NOT_TEXT):
        errors.setdefault(name, []).append(_CODE_PROBLEM if code else _TEXT_PROBLEM)
    return text


_SLUG = re.compile(r"[-a-z0-9_]+")
_NOT_SLUG = re.compile(r"[^-a-z0-9_]+")


def campaign_slug(value: str) -> str:
    """The slug of the campaign a utm_campaign value names: lower-case ASCII letters, digits, `-`
    and `_`, accents dropped and any other run of characters made one `-` (“Spring Launch 2026”
    → `spring-launch-2026`), so that every campaign's slug is a valid one. "" if nothing is left."""
    slug = value.strip().lower()
    if not _SLUG.fullmatch(slug):
        folded = unicodedata.normalize("NFKD", slug).encode("ascii", "ignore").decode()
        slug = _NOT_SLUG.sub("-", folded).strip("-")
    return slug[:CAMPAIGN_SLUG_MAX_LENGTH]


def clean_utm(raw: Mapping[str, Any], errors: dict[str, list[str]], *, prefix: str = "utm.") -> dict[str, str]:
    """The UTM values given: each printable and at most UTM_MAX_LENGTH characters long, and
    `utm_campaign` turned into its campaign's slug. Problems go to `errors`, named `<prefix><field>`."""
    utm: dict[str, str] = {}
    for name in UTM_FIELDS:
        if name in raw:
            utm[name] = _text(raw[name], f"{prefix}{name}", UTM_MAX_LENGTH, errors, code=True)
    campaign = utm.get("utm_campaign")
    if campaign and f"{prefix}utm_campaign" not in errors:
        utm["utm_campaign"] = campaign_slug(campaign)
        if not utm["utm_campaign"]:
            errors[f"{prefix}utm_campaign"] = [f"“{campaign}” has no letter or digit to name a campaign by."]
    return utm


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _properties_problem(properties: Any) -> str | None:
    """A string (or key) in the properties that cannot be stored, NUL or a lone surrogate, named by its path."""
    stack: list[tuple[str, Any]] = [("", properties)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _UNSTORABLE.search(value):
                where = _UNSTORABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", path)
                return f"“{where}” holds a NUL character or a lone surrogate, which cannot be stored."
        elif isinstance(value, _OBJECT):
            for key, item in value.items():
                key_path = f"{path}.{key}" if path else str(key)
                stack += [(key_path, str(key)), (key_path, item)]
        elif isinstance(value, list | tuple):
            stack += [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    return None


def _email(value: Any, seen: dict[Any, str | dict[str, list[str]]]) -> str | dict[str, list[str]]:
    """The normalised address, or the errors naming `email`; remembered per batch (addresses repeat)."""
    key = value if isinstance(value, str) else None
    if key not in seen:
        try:
            seen[key] = services.normalise_email(key or "")
        except ValidationError as exc:
            seen[key] = exc.message_dict
    return seen[key]


def _validate_item(
    index: int,
    raw: Any,
    *,
    types: Container[str],
    default_source: str,
    now: datetime,
    emails: dict[Any, str | dict[str, list[str]]],
) -> _Item | ItemResult:
    if not isinstance(raw, _OBJECT):
        return ItemResult(index, "error", errors={"non_field_errors": ["Each item must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    unknown = raw.keys() - ITEM_FIELDS
    for name in sorted(unknown):
        errors[name] = [f"Unknown field; expected some of: {', '.join(sorted(ITEM_FIELDS))}."]
    email = _email(raw.get("email"), emails)
    if not isinstance(email, str):
        errors.update((name, list(problems)) for name, problems in email.items())  # not shared between items
        email = ""
    code = raw.get("type")
    if not code:
        errors["type"] = ["This field is required."]
    elif not isinstance(code, str) or code not in types:
        errors["type"] = [f"“{code}” is not an activity type; see /api/v1/activity-types/."]
    occurred_at = now
    if raw.get("occurred_at") not in (None, ""):
        try:
            occurred_at = parse_timestamp(raw["occurred_at"], now=now)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    source_system = _text(raw.get("source_system"), "source_system", 50, errors, code=True) or default_source
    external_id = _text(raw.get("external_id"), "external_id", 200, errors, code=True)
    properties = raw.get("properties") or {}
    properties_json = ""
    if not isinstance(properties, _OBJECT):
        errors["properties"] = ["Must be a JSON object."]
    else:
        try:
            properties_json = _encode_properties(properties if isinstance(properties, dict) else dict(properties))
        except (TypeError, ValueError):
            errors["properties"] = ["Must hold only JSON values: text, numbers, true/false, null, lists, objects."]
        else:
            if len(properties_json) > MAX_PROPERTIES_BYTES:
                errors["properties"] = [f"At most {MAX_PROPERTIES_BYTES // 1024} KB of JSON."]
            # The encoder escapes NUL as \u0000 and every surrogate as \udxxx: without either, all is well.
            elif "\\u0000" in properties_json or "\\ud" in properties_json:
                problem = _properties_problem(properties)
                if problem:
                    errors["properties"] = [problem]
    lead: dict[str, str] = {}
    raw_lead = raw.get("lead") or {}
    if not isinstance(raw_lead, _OBJECT):
        errors["lead"] = ["Must be a JSON object."]
    elif raw_lead:
        for name in sorted(raw_lead.keys() - LEAD_FIELDS.keys()):
            errors[f"lead.{name}"] = [f"Unknown field; expected some of: {', '.join(LEAD_FIELDS)}."]
        for name, max_length in LEAD_FIELDS.items():
            if name in raw_lead:
                lead[name] = _text(raw_lead[name], f"lead.{name}", max_length, errors)
    utm: dict[str, str] = {}
    raw_utm = raw.get("utm") or {}
    if not isinstance(raw_utm, _OBJECT):
        errors["utm"] = ["Must be a JSON object."]
    elif raw_utm:
        for name in sorted(raw_utm.keys() - set(UTM_FIELDS)):
            errors[f"utm.{name}"] = [f"Unknown field; expected some of: {', '.join(UTM_FIELDS)}."]
        utm = clean_utm(raw_utm, errors)
    if errors:
        return ItemResult(index, "error", errors=errors)
    return _Item(index, email, code, occurred_at, source_system, external_id, properties_json, lead, utm)


def activities_ingest(
    *,
    items: Sequence[Any],
    actor: Actor,
    default_source_system: str = "api",
    may_create_leads: bool = True,
    may_create_companies: bool = True,
    may_create_campaigns: bool = True,
) -> list[ItemResult]:
    """Record a batch of activities; see the module docstring. Results are in input order.

    The `may_create_*` flags are the sender's permissions (`add_lead`, `add_company`,
    `add_campaign`): without the first, an item for an unknown email is an error; without the
    others, new leads get only the companies and campaigns that exist.
    """
    if len(items) > MAX_ITEMS_PER_BATCH:
        raise ValidationError(
            {"items": f"At most {MAX_ITEMS_PER_BATCH} activities per request (got {len(items)}); split the batch."}
        )
    now = timezone.now()
    # The active types, each marked whether the active model takes it for a hot signal (one query).
    marked = ActivityType.objects.filter(is_active=True).annotate(hot=services.is_hot_signal_type()).values_list(
        "code", "hot"
    )
    types = frozenset(code for code, _ in marked)
    hot_types = frozenset(code for code, hot in marked if hot)
    results: dict[int, ItemResult] = {}
    valid: list[_Item] = []
    emails: dict[Any, str | dict[str, list[str]]] = {}
    for index, raw in enumerate(items):
        checked = _validate_item(index, raw, types=types, default_source=default_source_system, now=now, emails=emails)
        if isinstance(checked, ItemResult):
            results[index] = checked
        else:
            valid.append(checked)
    if valid:
        creates = _Creates(may_create_leads, may_create_companies, may_create_campaigns)
        _write_retrying(valid, results, actor=actor, now=now, hot_types=hot_types, creates=creates)
    return [results[index] for index in range(len(items))]


@dataclass(frozen=True)
class _Creates:
    leads: bool
    companies: bool
    campaigns: bool


NO_LEAD_MESSAGE = "No lead has this email, and you may not create leads (that needs the add_lead permission)."
BUSY_MESSAGE = (
    f"Not stored: the database stayed busy with concurrent writes through {WRITE_ATTEMPTS} tries. Send this "
    "item again; re-sending is safe (an item with an external_id is never stored twice)."
)


def _write_retrying(valid: list[_Item], results: dict[int, ItemResult], **options: Any) -> None:
    """`_write` in a transaction, run again from the start when the database rolled it back as a
    deadlock victim or for a serialisation failure; after WRITE_ATTEMPTS such tries, every item is
    answered with an error saying to send it again (per item, like every other answer)."""
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _write(valid, results, **options)
            return
        except OperationalError as exc:
            if _sqlstate(exc) not in _RETRYABLE_SQLSTATES:
                raise
            logger.warning(
                "Ingestion batch of %d items rolled back (try %d of %d): %s", len(valid), attempt, WRITE_ATTEMPTS, exc
            )
            if attempt < WRITE_ATTEMPTS:  # 25–50 ms, then 50–100 ms: the other transaction finishes meanwhile
                time.sleep((25 << (attempt - 1)) * (1 + secrets.randbelow(1000) / 1000) / 1000)
    for item in valid:
        results[item.index] = ItemResult(item.index, "error", errors={"non_field_errors": [BUSY_MESSAGE]})


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__  # the driver's error: psycopg 3 names the code `sqlstate`, psycopg2 `pgcode`
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


def _write(
    valid: list[_Item],
    results: dict[int, ItemResult],
    *,
    actor: Actor,
    now: datetime,
    hot_types: frozenset[str],
    creates: _Creates,
) -> None:
    lead_ids, created_emails = leads_get_or_create_bulk(
        specs={item.email: (item.lead, item.utm) for item in reversed(valid)},
        actor=actor,
        now=now,
        may_create=creates.leads,
        may_create_companies=creates.companies,
        may_create_campaigns=creates.campaigns,
    )
    # Idempotence: a (source_system, external_id) repeated within the batch is a duplicate of its
    # first occurrence; one already stored is skipped by the INSERT itself (ON CONFLICT DO NOTHING).
    to_insert: list[_Item] = []
    first_of_key: dict[tuple[str, str], _Item] = {}
    repeats: list[_Item] = []
    first_for_email: set[str] = set()
    for item in valid:
        lead_id = lead_ids.get(item.email)
        if lead_id is None:  # unknown, and the sender may not create leads (or it could not be stored)
            problem = NO_LEAD_MESSAGE if not creates.leads else "No lead with this email could be stored."
            results[item.index] = ItemResult(item.index, "error", errors={"email": [problem]})
            continue
        lead_created = item.email in created_emails and item.email not in first_for_email
        first_for_email.add(item.email)
        if item.external_id:
            key = (item.source_system, item.external_id)
            if key in first_of_key:
                results[item.index] = ItemResult(item.index, "duplicate", None, lead_id)
                repeats.append(item)
                continue
            first_of_key[key] = item
        to_insert.append(item)
        results[item.index] = ItemResult(item.index, "created", None, lead_id, lead_created)
    written = ingestion_sql.activities_insert(
        [
            ingestion_sql.ActivityRow(
                lead_ids[item.email],
                item.type,
                item.occurred_at,
                item.properties_json,
                item.source_system,
                item.external_id,
            )
            for item in to_insert
        ],
        created_at=now,
    )
    ids_by_key = {(system, external_id): pk for pk, system, external_id in written if external_id}
    # Rows without an external id never conflict: every one was written, their ids rising in input order.
    unkeyed_ids = iter(sorted(pk for pk, _, external_id in written if not external_id))
    already_stored: list[_Item] = []
    for item in to_insert:
        result = results[item.index]
        if not item.external_id:
            result.activity_id = next(unkeyed_ids)
        elif (item.source_system, item.external_id) in ids_by_key:
            result.activity_id = ids_by_key[(item.source_system, item.external_id)]
        else:  # sent before: answered with the stored activity, not stored again
            result.status, result.lead_created = "duplicate", False
            already_stored.append(item)
    if already_stored:
        stored = _stored_activity_ids(already_stored)
        for item in already_stored:
            results[item.index].activity_id = stored.get((item.source_system, item.external_id))
    for item in repeats:  # they point at the activity their first occurrence was answered with
        twin = first_of_key[(item.source_system, item.external_id)]
        results[item.index].activity_id = results[twin.index].activity_id
    created = [item for item in to_insert if results[item.index].status == "created"]
    touched = {lead_ids[item.email] for item in created}
    if touched:
        hot = {lead_ids[item.email] for item in created if item.type in hot_types}
        if hot:  # speed-to-lead: these are rescored (and fast-tracked) at once
            services.rescore_request(lead_ids=list(hot), urgent=True)
        if touched - hot:
            services.rescore_request(lead_ids=list(touched - hot))


def _stored_activity_ids(items: Sequence[_Item]) -> dict[tuple[str, str], int]:
    """Ids of the stored activities with these items' (source_system, external_id), one query per system."""
    found: dict[tuple[str, str], int] = {}
    for system in {item.source_system for item in items}:
        external_ids = [item.external_id for item in items if item.source_system == system]
        # `external_id <> ''` spelled out lets PostgreSQL use the partial unique index.
        stored = Activity.objects.filter(source_system=system, external_id__in=external_ids).exclude(external_id="")
        found.update(((system, external_id), pk) for external_id, pk in stored.values_list("external_id", "pk"))
    return found


def leads_get_or_create_bulk(
    *,
    specs: Mapping[str, tuple[Mapping[str, str], Mapping[str, str]]],
    actor: Actor,
    now: datetime,
    may_create: bool = True,
    may_create_companies: bool = True,
    may_create_campaigns: bool = True,
) -> tuple[dict[str, int], set[str]]:
    """Ids of the leads with these (normalised) emails, creating the missing ones in bulk.

    `specs` maps email -> (lead fields, utm fields) used only for leads that are created: an
    existing lead's first-touch attribution is never overwritten. Returns (ids, created emails).
    Without `may_create` only the existing leads are answered; without `may_create_companies` /
    `may_create_campaigns`, new leads get a company or campaign only if it exists.

    Race-free: the leads are inserted sorted by email with `ON CONFLICT DO NOTHING` (after their
    companies and campaigns, likewise), so a lead a concurrent request stored first is not an
    error but re-read, and not counted as created (nor given a second creation history row).
    """
    ids = dict(Lead.objects.filter(email__in=list(specs)).values_list("email", "pk"))
    missing = sorted(email for email in specs if email not in ids)  # sorted: the lock order
    if not missing or not may_create:
        return ids, set()
    domains = {
        normalise_domain(email): specs[email][0].get("company_name", "")
        for email in missing
        if not is_free_mail_domain(email)
    }
    companies = _companies_for_domains(domains, create=may_create_companies)
    slugs = {email: campaign_slug(specs[email][1].get("utm_campaign", "")) for email in missing}
    campaigns = _campaigns_for_slugs(set(slugs.values()) - {""}, create=may_create_campaigns)
    new_leads = []
    for email in missing:
        fields, utm = specs[email]
        source, medium = utm.get("utm_source", ""), utm.get("utm_medium", "")
        new_leads.append(
            Lead(
                email=email,
                first_name=fields.get("first_name", ""),
                last_name=fields.get("last_name", ""),
                job_title=fields.get("job_title", ""),
                phone=fields.get("phone", ""),
                phone_digits=services.phone_digits(fields.get("phone", "")),
                company_id=companies.get(normalise_domain(email)),
                source_channel=channel_from_utm(source, medium),
                source_detail=" / ".join(part for part in (source, medium) if part)[:200],
                campaign_id=campaigns.get(slugs[email]),
                stage=Stage.LEAD,
                stage_changed_at=now,
                created_at=now,
            )
        )
    written = ingestion_sql.insert_skipping_conflicts(new_leads, returning=("id", "email"))
    created = {email: pk for pk, email in written}
    StageTransition.objects.bulk_create(
        [
            StageTransition(
                lead_id=pk,
                from_stage="",
                to_stage=Stage.LEAD,
                at=now,
                actor_user=actor.user,
                actor_rule=actor.rule,
                reason="Created",
            )
            for pk in created.values()
        ],
        batch_size=1000,
    )
    ids.update(created)
    if len(created) < len(missing):  # re-read the leads a concurrent request stored first
        ids.update(Lead.objects.filter(email__in=[e for e in missing if e not in created]).values_list("email", "pk"))
    return ids, set(created)


def _companies_for_domains(domains: Mapping[str, str], *, create: bool = True) -> dict[str, int]:
    """Ids of the companies with these domains, creating the missing ones (`ON CONFLICT DO NOTHING`,
    sorted: the lock order) unless `create` is false. `domains` maps domain -> name for new ones."""
    domains = {d: name for d, name in domains.items() if d}
    if not domains:
        return {}
    if create:
        Company.objects.bulk_create(
            [
                Company(domain=domain, name=name or domain.split(".")[0].replace("-", " ").title())
                for domain, name in sorted(domains.items())
            ],
            ignore_conflicts=True,
        )
    return dict(Company.objects.filter(domain__in=list(domains)).values_list("domain", "pk"))


def _campaigns_for_slugs(slugs: set[str], *, create: bool = True) -> dict[str, int]:
    """Ids of the campaigns with these slugs (see `campaign_slug`), creating the missing ones
    (`ON CONFLICT DO NOTHING`, sorted: the lock order) unless `create` is false."""
    if not slugs:
        return {}
    if create:
        Campaign.objects.bulk_create(
            [Campaign(slug=slug, name=slug.replace("-", " ").replace("_", " ").title()) for slug in sorted(slugs)],
            ignore_conflicts=True,
        )
    return dict(Campaign.objects.filter(slug__in=list(slugs)).values_list("slug", "pk"))


# --- Lead upsert and website forms ----------------------------------------------------------

UPSERT_FIELDS = ("first_name", "last_name", "job_title", "phone")


@transaction.atomic
def lead_upsert(
    *,
    email: str,
    actor: Actor,
    fields: Mapping[str, Any],
    utm: Mapping[str, str] | None = None,
    fill_blanks_only: bool = False,
) -> tuple[Lead, bool]:
    """Create the lead with this email, or update the given profile fields of the existing one.

    Attribution (channel, source detail, campaign) is first-touch: set when the lead is created
    and never overwritten by later upserts. With `fill_blanks_only` (anonymous sources such as
    website forms) existing values are never overwritten either. Two concurrent upserts of a new
    email both succeed: the loser of the race updates the winner's lead. Returns (lead, created).
    """
    email = services.normalise_email(email)
    errors: dict[str, list[str]] = {}
    cleaned = {name: _text(fields[name], name, LEAD_FIELDS[name], errors) for name in UPSERT_FIELDS if name in fields}
    company_name = _text(fields.get("company_name"), "company_name", 200, errors)
    utm = clean_utm(utm or {}, errors)  # checked even when the lead exists and they go unused
    unknown = sorted(set(fields) - set(UPSERT_FIELDS) - {"company_name"})
    for name in unknown:
        errors[name] = ["This field cannot be set here."]
    if errors:
        raise ValidationError(errors)
    lead = Lead.objects.select_for_update().filter(email=email).first()
    if lead is not None:
        return _upsert_existing(lead, cleaned, actor=actor, fill_blanks_only=fill_blanks_only), False
    source, medium = utm.get("utm_source", ""), utm.get("utm_medium", "")
    try:
        with transaction.atomic():
            return _create_for_upsert(email, actor, company_name, source, medium, utm, cleaned), True
    except ValidationError as exc:
        existing = Lead.objects.select_for_update().filter(email=email).first()
        if existing is None:  # a real validation error, not a lost race
            raise
        del exc
        return _upsert_existing(existing, cleaned, actor=actor, fill_blanks_only=fill_blanks_only), False


def _upsert_existing(lead: Lead, cleaned: Mapping[str, str], *, actor: Actor, fill_blanks_only: bool) -> Lead:
    changed = {
        name: value
        for name, value in cleaned.items()
        if value and getattr(lead, name) != value and not (fill_blanks_only and getattr(lead, name))
    }
    if changed:
        lead = services.lead_update(lead_id=lead.pk, actor=actor, **changed)
    return lead


def _create_for_upsert(
    email: str, actor: Actor, company_name: str, source: str, medium: str, utm: Mapping[str, str],
    cleaned: Mapping[str, str],
) -> Lead:  # fmt: skip
    return services.lead_create(
        email=email,
        actor=actor,
        company_name=company_name,
        source_channel=channel_from_utm(source, medium),
        source_detail=" / ".join(part for part in (source, medium) if part)[:200],
        campaign=services.campaign_for_slug(slug=utm.get("utm_campaign", "")),
        **cleaned,
    )


FORM_MAX_FIELDS = 50
FORM_MAX_VALUE = 2_000
FORM_LEAD_FIELDS = {"email", "first_name", "last_name", "job_title", "phone", "company", "company_name"}


@transaction.atomic
def form_capture(*, source: FormSource, data: Mapping[str, Any]) -> tuple[Lead, Activity, bool]:
    """A website form submission: upsert the lead, record the submission as an activity.

    UTM fields become first-touch attribution for new leads (the source's channel and campaign
    when the form sends none); the remaining form fields are kept on the activity.
    """
    if len(data) > FORM_MAX_FIELDS:
        raise ValidationError({"non_field_errors": f"At most {FORM_MAX_FIELDS} form fields."})
    values: dict[str, str] = {}
    for key, value in data.items():
        text = value if isinstance(value, str) else ("" if value is None else str(value))
        if len(text) > FORM_MAX_VALUE:
            raise ValidationError({key: f"At most {FORM_MAX_VALUE} characters."})
        values[str(key)] = text.strip()
    errors: dict[str, list[str]] = {}
    utm = clean_utm({name: values[name] for name in UTM_FIELDS if values.get(name)}, errors, prefix="")
    if errors:
        raise ValidationError(errors)
    if not utm.get("utm_campaign") and source.campaign_id:
        utm["utm_campaign"] = source.campaign.slug
    fields = {name: values[name] for name in UPSERT_FIELDS if values.get(name)}
    company_name = values.get("company_name") or values.get("company") or ""
    if company_name:
        fields["company_name"] = company_name
    actor = Actor.rule_named(f"Web form: {source.name}")
    lead, created = lead_upsert(
        email=values.get("email", ""), actor=actor, fields=fields, utm=utm, fill_blanks_only=True
    )
    if created and not (utm.get("utm_source") or utm.get("utm_medium")):
        Lead.objects.filter(pk=lead.pk).update(source_channel=source.default_channel)
        lead.source_channel = source.default_channel
    extra = {k: v for k, v in values.items() if k not in FORM_LEAD_FIELDS and k != "submission_id"}
    submission_id = values.get("submission_id", "")[:200]
    if submission_id:  # a re-sent submission is recorded once
        earlier = Activity.objects.filter(source_system=f"form:{source.pk}", external_id=submission_id).first()
        if earlier is not None:
            return lead, earlier, created
    activity = Activity.objects.create(
        lead=lead,
        type_id=source.activity_type_id,
        properties={"form": source.name, **extra},
        source_system=f"form:{source.pk}",
        external_id=submission_id,
    )
    FormSource.objects.filter(pk=source.pk).update(last_used_at=timezone.now())
    services.rescore_request(lead_ids=[lead.pk], urgent=source.activity_type_id in services.hot_signal_types())
    return lead, activity, created


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def form_source_create(*, name: str, **fields: Any) -> tuple[FormSource, str]:
    """A new form source and its key. The key is returned once; only its hash is stored."""
    if not name.strip():
        raise ValidationError({"name": "Give the form source a name."})
    key = f"bfk_{secrets.token_urlsafe(24)}"
    source = FormSource(name=name.strip(), key_prefix=key[:10], key_hash=_key_hash(key), **fields)
    source.full_clean()
    source.save()
    return source, key


def form_source_for_key(key: str) -> FormSource | None:
    """The active form source this key belongs to, or None."""
    if not key or len(key) > 100:
        return None
    return FormSource.objects.select_related("campaign").filter(key_hash=_key_hash(key), is_active=True).first()
