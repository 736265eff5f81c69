"""Every write to leads, companies and stage history goes through these functions.

Pages, the API, the admin, management commands and Celery tasks call them, so the rules are the
same whichever way a change comes in. Errors are `ValidationError` keyed by field, or
`TransitionRefused` for the lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from leads import lifecycle
from leads.domains import is_free_mail_domain, normalise_domain
from leads.lifecycle import Actor, Stage, TransitionRefused, TransitionRequest
from leads.models import Campaign, Company, Lead, StageTransition

# Fields a person or system may set on a lead. Stage and scores are deliberately absent:
# the stage moves only through lead_transition, the scores only through scoring.
LEAD_EDITABLE_FIELDS = (
    "first_name",
    "last_name",
    "job_title",
    "phone",
    "company",
    "source_channel",
    "source_detail",
    "campaign",
    "owner",
)

# Called after a transition commits, with (lead_id, from_stage, to_stage). Other apps subscribe
# explicitly here (not through Django signals) so the call graph stays visible.
_after_transition: list[Callable[[int, str, str], None]] = []


def on_transition(callback: Callable[[int, str, str], None]) -> Callable[[int, str, str], None]:
    if callback not in _after_transition:
        _after_transition.append(callback)
    return callback


def normalise_email(email: str) -> str:
    """Lower-case and trim an address, or raise ValidationError naming the `email` field."""
    value = (email or "").strip().lower()
    if not value:
        raise ValidationError({"email": "An email address is required."})
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValidationError({"email": f"“{email}” is not a valid email address."}) from exc
    return value


def company_for_domain(*, domain: str, name: str = "", **defaults: Any) -> Company | None:
    """The company owning `domain`, created if new. None for free-mail domains (gmail.com...)."""
    normalised = normalise_domain(domain)
    if not normalised or is_free_mail_domain(normalised):
        return None
    company, created = Company.objects.get_or_create(
        domain=normalised, defaults={"name": name or _name_from_domain(normalised), **defaults}
    )
    if not created and name and company.name == _name_from_domain(normalised):
        # A real name beats the one guessed from the domain.
        company.name = name
        company.save(update_fields=["name"])
    return company


def campaign_for_slug(*, slug: str, name: str = "", channel: str = "") -> Campaign | None:
    slug = (slug or "").strip().lower()
    if not slug:
        return None
    campaign, _ = Campaign.objects.get_or_create(
        slug=slug,
        defaults={"name": name or slug.replace("-", " ").replace("_", " ").title(), "channel": channel},
    )
    return campaign


@transaction.atomic
def lead_create(
    *,
    email: str,
    actor: Actor,
    company_name: str = "",
    created_at: datetime | None = None,
    **fields: Any,
) -> Lead:
    """Create a lead at stage `lead`, recording its creation in the stage history.

    Without an explicit `company`, the company is found or created from the email's domain
    (free-mail addresses get none).
    """
    _reject_unknown_fields(fields)
    email = normalise_email(email)
    if Lead.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"A lead with the email {email} already exists."})
    if fields.get("company") is None:
        fields["company"] = company_for_domain(domain=email.rsplit("@", 1)[1], name=company_name)
    now = created_at or timezone.now()
    lead = Lead(email=email, stage=Stage.LEAD, stage_changed_at=now, created_at=now, **fields)
    lead.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            lead.save()
    except IntegrityError as exc:  # a concurrent create of the same address won the race
        raise ValidationError({"email": f"A lead with the email {email} already exists."}) from exc
    StageTransition.objects.create(
        lead=lead,
        from_stage="",
        to_stage=Stage.LEAD,
        at=now,
        actor_user=actor.user,
        actor_rule=actor.rule,
        reason="Created",
    )
    return lead


@transaction.atomic
def lead_update(*, lead_id: int, actor: Actor, **fields: Any) -> Lead:
    """Change a lead's profile fields. The stage and scores cannot be set here."""
    _reject_unknown_fields(fields)
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    for name, value in fields.items():
        setattr(lead, name, value)
    lead.full_clean(validate_constraints=False)
    lead.save(update_fields=[*fields, "updated_at"])
    return lead


@transaction.atomic
def lead_transition(
    *,
    lead_id: int,
    to: Stage | str,
    actor: Actor,
    reason: str = "",
    at: datetime | None = None,
    context: dict[str, Any] | None = None,
) -> Lead:
    """Move a lead to another stage: the one and only writer of `Lead.stage`.

    Locks the lead row, checks the move against the lifecycle graph and its guards, writes the
    immutable StageTransition and the new stage in one transaction. Raises TransitionRefused
    with a message naming the rule broken, leaving nothing written.
    """
    try:
        target = Stage(to)
    except ValueError as exc:
        raise TransitionRefused(f"“{to}” is not a stage.", code="unknown_stage") from exc
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    source = Stage(lead.stage)
    lifecycle.check(
        TransitionRequest(
            lead=lead,
            from_stage=source,
            to_stage=target,
            actor=actor,
            reason=reason,
            context=context or {},
        )
    )
    now = at or timezone.now()
    StageTransition.objects.create(
        lead=lead,
        from_stage=source,
        to_stage=target,
        at=now,
        actor_user=actor.user,
        actor_rule=actor.rule,
        reason=reason.strip(),
    )
    Lead.objects.filter(pk=lead.pk).update(stage=target, stage_changed_at=now, updated_at=now)
    lead.stage, lead.stage_changed_at, lead.updated_at = target, now, now
    for callback in _after_transition:
        transaction.on_commit(
            lambda cb=callback: cb(lead.pk, source.value, target.value)  # type: ignore[misc]
        )
    return lead


def _reject_unknown_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(LEAD_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))


def _name_from_domain(domain: str) -> str:
    return domain.split(".")[0].replace("-", " ").title()
