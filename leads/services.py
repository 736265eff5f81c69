"""Every write to leads, companies and stage history goes through these functions.

Pages, the API, the admin, management commands and Celery tasks call them, so the rules are the
same whichever way a change comes in. Errors are `ValidationError` keyed by field, or
`TransitionRefused` for the lifecycle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, models, transaction
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from crm.queue import enqueue, enqueue_on_commit
from leads import jobs, lifecycle
from leads.domains import is_free_mail_domain, normalise_domain
from leads.lifecycle import Actor, Stage, TransitionRefused, TransitionRequest
from leads.models import (
    Activity,
    ActivityType,
    Campaign,
    Company,
    EngagementRule,
    FitAttribute,
    FitOperator,
    FitRule,
    Job,
    JobStatus,
    Lead,
    LeadMerge,
    RescoreRequest,
    ScoringModel,
    ScoringModelStatus,
    ScoringRun,
    ScoringRunKind,
    StageTransition,
)

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
# Called inside the transaction that moves leads, with the moves [(lead_id, from_stage, to_stage)]
# and their time,
# so what another app keeps about a stage (handoff's review clocks and hand-off requests) is
# written with the move or not at all.
StageMove = tuple[int, str, str]
_in_transition: list[Callable[[list[StageMove], datetime], None]] = []
# Called inside the rescoring transaction with the ids of MQLs that got a new hot signal.
_on_hot_mqls: list[Callable[[list[int]], None]] = []

# Back to nurture without a reason that says for how long: the cool-off.
DEFAULT_NURTURE_DAYS = 90
MAX_NURTURE_DAYS = 3 * 365


def on_transition(callback: Callable[[int, str, str], None]) -> Callable[[int, str, str], None]:
    if callback not in _after_transition:
        _after_transition.append(callback)
    return callback


def in_transition(
    callback: Callable[[list[StageMove], datetime], None],
) -> Callable[[list[StageMove], datetime], None]:
    if callback not in _in_transition:
        _in_transition.append(callback)
    return callback


def on_hot_mqls(callback: Callable[[list[int]], None]) -> Callable[[list[int]], None]:
    if callback not in _on_hot_mqls:
        _on_hot_mqls.append(callback)
    return callback


# The stage change the generic doors make (the lead page, the API's transition, the admin's
# actions): handoff registers its dispatcher, which moves a lead through the handoff service that
# owns the move (rejection, the queue's decisions, advance), with that service's permissions.
Mover = Callable[..., Lead]
_movers: list[Mover] = []
# Asked inside lead_create/lead_update before a lead gets a new owner, with the lead (locked; not
# yet saved on create), the new owner (or None) and the actor: raises ValidationError naming
# `owner` when the user may not own the lead or the actor may not change its owner; may carry the
# change out itself (handoff reassigns a lead sales holds, so its assignment and clock follow).
OwnerRule = Callable[..., None]
_owner_rules: list[OwnerRule] = []


def register_mover(mover: Mover) -> Mover:
    if mover not in _movers:
        _movers.append(mover)
    return mover


def on_owner_change(rule: OwnerRule) -> OwnerRule:
    if rule not in _owner_rules:
        _owner_rules.append(rule)
    return rule


def lead_move(*, lead_id: int, to: Stage | str, actor: Actor, reason: str = "", reason_code: str = "") -> Lead:
    """A person moves a lead to a stage through a generic door. With handoff installed, its
    dispatcher decides which service makes the move (and refuses the moves only its own pages
    make, naming them); without one, the lifecycle service. `reason_code` is a reason from the
    managed list, for moves that take one (recycling, disqualifying)."""
    if _movers and actor.user is not None:
        return _movers[-1](lead_id=lead_id, to=to, user=actor.user, reason=reason, reason_code=reason_code)
    return lead_transition(lead_id=lead_id, to=to, actor=actor, reason=reason)


# What a refused `lead_move` raises: the lifecycle's refusal, or a handoff service's own.
MOVE_REFUSALS = (TransitionRefused, PermissionDenied, ValidationError)


def move_refusal(exc: Exception) -> TransitionRefused:
    """A refused move (one of MOVE_REFUSALS) as a TransitionRefused: the words to show, and the
    field they are about (`stage` unless a ValidationError names another)."""
    if isinstance(exc, TransitionRefused):
        return exc
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        field = next(iter(exc.error_dict))
        words = " ".join(message for errors in exc.message_dict.values() for message in errors)
        return TransitionRefused(words, code="invalid", field=field if field in ("reason", "stage") else "stage")
    if isinstance(exc, ValidationError):
        return TransitionRefused(" ".join(exc.messages), code="invalid")
    return TransitionRefused(str(exc) or "You may not make this move.", code="permission_denied")


def _check_owner(lead: Lead, owner: Any, actor: Actor) -> None:
    if owner is not None and not owner.is_active:
        raise ValidationError({"owner": f"{owner.get_username()} is not an active user."})
    for rule in _owner_rules:
        rule(lead=lead, owner=owner, actor=actor)


def nurture_until_for(*, days: int | None, until: datetime | date | None, now: datetime) -> datetime:
    """When a lead sent back to nurture now may be promoted again: `until` if given (a date means
    the start of that day in the site's time zone), else `days` from now (DEFAULT_NURTURE_DAYS
    when None). Refuses a past date or one further than MAX_NURTURE_DAYS, naming `nurture_until`."""
    if until is None:
        return now + timedelta(days=DEFAULT_NURTURE_DAYS if days is None else days)
    if not isinstance(until, datetime):
        until = timezone.make_aware(datetime.combine(until, time.min))
    if until < now - timedelta(minutes=1):
        raise ValidationError({"nurture_until": "The cool-off cannot end in the past: choose today or a later date."})
    if until > now + timedelta(days=MAX_NURTURE_DAYS):
        raise ValidationError({"nurture_until": f"A cool-off is at most {MAX_NURTURE_DAYS // 365} years long."})
    return max(until, now)


def phone_digits(phone: str) -> str:
    """Digits of a phone number, for matching duplicates; empty when too short to mean anything."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits if len(digits) >= 7 else ""


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
def campaign_create(
    *, slug: str, name: str, channel: str = "", starts_on: date | None = None, ends_on: date | None = None
) -> Campaign:
    """Create a campaign; its slug is stored lower case, as `campaign_for_slug` looks it up."""
    slug = slug.strip().lower()
    if Campaign.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": f"A campaign with the slug “{slug}” already exists."})
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError({"ends_on": "The end date must be on or after the start date."})
    campaign = Campaign(slug=slug, name=name.strip(), channel=channel, starts_on=starts_on, ends_on=ends_on)
    campaign.full_clean()
    campaign.save()
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
    if Lead.objects.filter(email=email).exists():
        raise ValidationError({"email": f"A lead with the email {email} already exists."})
    if fields.get("company") is None:
        fields["company"] = company_for_domain(domain=email.rsplit("@", 1)[1], name=company_name)
    now = created_at or timezone.now()
    lead = Lead(email=email, stage=Stage.LEAD, stage_changed_at=now, created_at=now, **fields)
    if fields.get("owner") is not None:
        _check_owner(lead, fields["owner"], actor)
    lead.phone_digits = phone_digits(lead.phone)
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
    rescore_request(lead_ids=[lead.pk])
    return lead


@transaction.atomic
def lead_update(*, lead_id: int, actor: Actor, **fields: Any) -> Lead:
    """Change a lead's profile fields. The stage and scores cannot be set here."""
    _reject_unknown_fields(fields)
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    if "owner" in fields and getattr(fields["owner"], "pk", fields["owner"]) != lead.owner_id:
        _check_owner(lead, fields["owner"], actor)
    for name, value in fields.items():
        setattr(lead, name, value)
    lead.phone_digits = phone_digits(lead.phone)
    lead.full_clean(validate_constraints=False)
    lead.save(update_fields=[*fields, "phone_digits", "updated_at"])
    if {"job_title", "company"} & set(fields):  # what fit rules look at
        rescore_request(lead_ids=[lead.pk])
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
    nurture_until: datetime | None = None,
) -> Lead:
    """Move a lead to another stage: the one and only writer of `Lead.stage`.

    Locks the lead row, checks the move against the lifecycle graph and its guards, writes the
    immutable StageTransition and the new stage in one transaction. Raises TransitionRefused
    with a message naming the rule broken, leaving nothing written.

    Back to nurture (`recycled`) starts the cool-off: `nurture_until` (DEFAULT_NURTURE_DAYS from
    now when not given), before which no rescoring promotes the lead, and engagement is counted
    from now on only (`engagement_since`), so the old points do not bring it straight back.
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
    changes: dict[str, Any] = {"stage": target, "stage_changed_at": now, "updated_at": now}
    if target == Stage.RECYCLED:
        changes["nurture_until"] = nurture_until or now + timedelta(days=DEFAULT_NURTURE_DAYS)
        changes["engagement_since"] = now
    StageTransition.objects.create(
        lead=lead,
        from_stage=source,
        to_stage=target,
        at=now,
        actor_user=actor.user,
        actor_rule=actor.rule,
        reason=reason.strip(),
    )
    Lead.objects.filter(pk=lead.pk).update(**changes)
    for name, value in changes.items():
        setattr(lead, name, value)
    for hook in _in_transition:
        hook([(lead.pk, source.value, target.value)], now)
    if target == Stage.RECYCLED:
        rescore_request(lead_ids=[lead.pk])  # its engagement now counts from the recycling on
    for callback in _after_transition:
        transaction.on_commit(
            lambda cb=callback: cb(lead.pk, source.value, target.value)  # type: ignore[misc]
        )
    return lead


def lead_transition_many(
    *,
    moves: dict[int, str],
    to: Stage | str,
    actor: Actor,
    from_stages: tuple[Stage, ...] | None = None,
    where: models.Q | None = None,
) -> list[int]:
    """`lead_transition` for many leads at once, in a few statements whatever their number.

    `moves` maps lead id to the reason recorded for it. Leads are locked (skipping none), each
    move is checked against the lifecycle graph and guards exactly as `lead_transition` checks
    it, then the accepted ones get their StageTransition rows in one insert and their new stage
    in one update. Leads outside `from_stages`, or refused, are left as they are. Returns the ids
    moved. `where` narrows the locked leads further (a condition that must still hold once they
    are locked). Call it inside a transaction.
    """
    target = Stage(to)
    if target == Stage.RECYCLED:
        raise ValueError("lead_transition_many does not recycle: the cool-off needs lead_transition")
    locked = Lead.objects.select_for_update().filter(pk__in=list(moves)).order_by("pk")
    if from_stages is not None:
        locked = locked.filter(stage__in=list(from_stages))
    if where is not None:
        locked = locked.filter(where)
    now = timezone.now()
    accepted: list[tuple[int, Stage]] = []
    for lead in locked.only("pk", "stage"):
        source = Stage(lead.stage)
        request = TransitionRequest(
            lead=lead, from_stage=source, to_stage=target, actor=actor, reason=moves[lead.pk], context={}
        )
        try:
            lifecycle.check(request)
        except TransitionRefused:
            continue
        accepted.append((lead.pk, source))
    if not accepted:
        return []
    StageTransition.objects.bulk_create(
        [
            StageTransition(
                lead_id=lead_id,
                from_stage=source,
                to_stage=target,
                at=now,
                actor_user=actor.user,
                actor_rule=actor.rule,
                reason=moves[lead_id].strip(),
            )
            for lead_id, source in accepted
        ]
    )
    Lead.objects.filter(pk__in=[lead_id for lead_id, _ in accepted]).update(
        stage=target, stage_changed_at=now, updated_at=now
    )
    for hook in _in_transition:
        hook([(lead_id, source.value, target.value) for lead_id, source in accepted], now)
    for callback in _after_transition:
        for lead_id, source in accepted:
            transaction.on_commit(
                lambda cb=callback, pk=lead_id, src=source: cb(pk, src.value, target.value)  # type: ignore[misc]
            )
    return [lead_id for lead_id, _ in accepted]


def _reject_unknown_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(LEAD_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))


def _name_from_domain(domain: str) -> str:
    return domain.split(".")[0].replace("-", " ").title()


# --- Scoring models: drafts, rules, publishing ----------------------------------------------


def _scoring_draft(model_id: int) -> ScoringModel:
    model = ScoringModel.objects.select_for_update().get(pk=model_id)
    if model.status != ScoringModelStatus.DRAFT:
        raise ValidationError(
            {
                "scoring_model": f"Version {model.version} is {model.get_status_display().lower()}; "
                "only a draft can be edited. Create a draft from it first."
            }
        )
    return model


@transaction.atomic
def scoring_draft_create(*, user: Any, name: str = "") -> ScoringModel:
    """A new draft copied from the active version (rules and thresholds), or the existing draft."""
    existing = ScoringModel.objects.filter(status=ScoringModelStatus.DRAFT).first()
    if existing is not None:
        return existing
    source = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
    last_version = ScoringModel.objects.aggregate(v=models.Max("version"))["v"] or 0
    draft = ScoringModel.objects.create(
        version=last_version + 1,
        name=name or (f"{source.name} (revised)" if source else "Scoring model"),
        status=ScoringModelStatus.DRAFT,
        created_by=user,
        **(
            {
                "mql_fit_threshold": source.mql_fit_threshold,
                "mql_engagement_threshold": source.mql_engagement_threshold,
                "decay_half_life_days": source.decay_half_life_days,
                "hot_signal_window_days": source.hot_signal_window_days,
                "fast_track_min_fit": source.fast_track_min_fit,
            }
            if source
            else {}
        ),
    )
    if source is not None:
        draft.hot_signal_types.set(source.hot_signal_types.all())
        FitRule.objects.bulk_create(
            FitRule(
                scoring_model=draft,
                label=r.label,
                attribute=r.attribute,
                operator=r.operator,
                values=r.values,
                points=r.points,
                position=r.position,
            )
            for r in source.fit_rules.all()
        )
        EngagementRule.objects.bulk_create(
            EngagementRule(
                scoring_model=draft,
                activity_type_id=r.activity_type_id,
                label=r.label,
                points=r.points,
                max_points=r.max_points,
                decays=r.decays,
            )
            for r in source.engagement_rules.all()
        )
    return draft


SCORING_MODEL_EDITABLE_FIELDS = (
    "name",
    "mql_fit_threshold",
    "mql_engagement_threshold",
    "decay_half_life_days",
    "hot_signal_window_days",
    "fast_track_min_fit",
    "notes",
)


@transaction.atomic
def scoring_draft_update(*, model_id: int, hot_signal_types: list[str] | None = None, **fields: Any) -> ScoringModel:
    unknown = sorted(set(fields) - set(SCORING_MODEL_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, "This field cannot be set here."))
    draft = _scoring_draft(model_id)
    half_life = fields.get("decay_half_life_days")
    if half_life is not None and half_life <= 0:
        raise ValidationError(
            {"decay_half_life_days": "A half-life is a positive number of days (or empty: no decay)."}
        )
    for name, value in fields.items():
        setattr(draft, name, value)
    draft.full_clean(validate_constraints=False)
    draft.save()
    if hot_signal_types is not None:
        types = list(ActivityType.objects.filter(code__in=hot_signal_types))
        missing = sorted(set(hot_signal_types) - {t.code for t in types})
        if missing:
            raise ValidationError({"hot_signal_types": f"Unknown activity types: {', '.join(missing)}."})
        draft.hot_signal_types.set(types)
    return draft


@transaction.atomic
def fit_rule_save(
    *,
    model_id: int,
    label: str,
    attribute: str,
    operator: str,
    values: list[str],
    points: int,
    rule_id: int | None = None,
    position: int | None = None,
) -> FitRule:
    """Add or change a fit rule of a draft; refuses nonsense combinations with a clear message."""
    from leads.scoring import OPERATORS_FOR, normalise_rule_value

    draft = _scoring_draft(model_id)
    if attribute not in FitAttribute.values:
        raise ValidationError({"attribute": f"“{attribute}” is not an attribute fit rules can use."})
    if operator not in OPERATORS_FOR[attribute]:
        allowed = ", ".join(FitOperator(o).label for o in OPERATORS_FOR[attribute])
        raise ValidationError({"operator": f"{FitAttribute(attribute).label} can be compared with: {allowed}."})
    cleaned = [normalise_rule_value(attribute, v) for v in values if str(v).strip()]
    if operator != FitOperator.IS_TRUE and not cleaned:
        raise ValidationError({"values": "Give at least one value to compare with."})
    if not label.strip():
        raise ValidationError({"label": "Give the rule a label; it is what explanations show."})
    rule = FitRule.objects.get(pk=rule_id, scoring_model=draft) if rule_id else FitRule(scoring_model=draft)
    rule.label, rule.attribute, rule.operator = label.strip(), attribute, operator
    rule.values, rule.points = sorted(set(cleaned)), points
    if position is not None:
        rule.position = position
    elif rule.pk is None:
        rule.position = (draft.fit_rules.aggregate(p=models.Max("position"))["p"] or 0) + 1
    rule.save()
    return rule


@transaction.atomic
def engagement_rule_save(
    *,
    model_id: int,
    activity_type: str,
    points: int,
    max_points: int | None = None,
    decays: bool = True,
    label: str = "",
    rule_id: int | None = None,
) -> EngagementRule:
    draft = _scoring_draft(model_id)
    if not ActivityType.objects.filter(code=activity_type).exists():
        raise ValidationError({"activity_type": f"“{activity_type}” is not a known activity type."})
    if max_points is not None and max_points <= 0:
        raise ValidationError({"max_points": "A cap must be a positive number of points (or empty)."})
    duplicate = draft.engagement_rules.filter(activity_type_id=activity_type).exclude(pk=rule_id)
    if duplicate.exists():
        raise ValidationError({"activity_type": "This draft already has a rule for that activity type."})
    rule = (
        EngagementRule.objects.get(pk=rule_id, scoring_model=draft) if rule_id else EngagementRule(scoring_model=draft)
    )
    rule.activity_type_id, rule.points, rule.max_points = activity_type, points, max_points
    rule.decays, rule.label = decays, label.strip()
    rule.save()
    return rule


@transaction.atomic
def scoring_rule_delete(*, model_id: int, kind: str, rule_id: int) -> None:
    draft = _scoring_draft(model_id)
    rules = draft.fit_rules if kind == "fit" else draft.engagement_rules
    deleted, _ = rules.filter(pk=rule_id).delete()
    if not deleted:
        raise ValidationError({"rule": "That rule is not part of this draft."})


@transaction.atomic
def scoring_model_publish(*, model_id: int, user: Any) -> Job:
    """Make a draft the active model and start rescoring every lead with it (a Job to watch)."""
    from leads import tasks

    draft = _scoring_draft(model_id)
    if not draft.fit_rules.exists() and not draft.engagement_rules.exists():
        raise ValidationError({"scoring_model": "A model needs at least one rule before it is published."})
    ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).update(status=ScoringModelStatus.RETIRED)
    draft.status = ScoringModelStatus.ACTIVE
    draft.published_by, draft.published_at = user, timezone.now()
    draft.save(update_fields=["status", "published_by", "published_at"])
    job = Job.objects.create(
        kind="rescore_all",
        params={"model_id": draft.pk, "run_kind": ScoringRunKind.PUBLISH},
        created_by=user,
    )
    enqueue_on_commit(tasks.run_rescore_all, job_id=job.pk)
    return job


# --- Rescoring -------------------------------------------------------------------------------


def scoring_promote_mqls(*, model: ScoringModel, lead_ids: list[int] | None = None, id_range=None) -> int:  # type: ignore[no-untyped-def]
    """Move every lead at `lead`/`recycled` that qualifies to `mql`: its scores meet both
    thresholds (and it is past any nurture cool-off), or it has a hot signal — the fast track,
    whatever its scores (handoff decides whether it is handed off at once or held for review).

    The moves go through the lifecycle service (checked, recorded in the history) with the model
    as the named actor and the numbers as the reason, so the history says exactly why; in
    chunks, so a publish that qualifies thousands of leads takes a few statements per chunk. A
    lead back from nurture says which return it is.
    """
    now = timezone.now()
    eligible = promotable(model, now)
    candidates = Lead.objects.filter(eligible, stage__in=[Stage.LEAD, Stage.RECYCLED])
    if lead_ids is not None:
        candidates = candidates.filter(pk__in=lead_ids)
    if id_range is not None:
        candidates = candidates.filter(pk__range=id_range)
    rows = list(
        candidates.order_by("pk").values_list("pk", "stage", "fit_score", "engagement_score", "hot_signal_at")
    )
    promoted = 0
    for start in range(0, len(rows), PROMOTE_CHUNK):
        chunk = rows[start : start + PROMOTE_CHUNK]
        moves = _promotion_reasons(model, chunk)
        with transaction.atomic():
            # Locked again and re-checked: a lead that moved meanwhile is left for the next rescore.
            promoted += len(
                lead_transition_many(
                    moves=moves,
                    to=Stage.MQL,
                    actor=Actor.rule_named(model.rule_name),
                    from_stages=(Stage.LEAD, Stage.RECYCLED),
                    where=eligible,
                )
            )
    return promoted


def promotable(model: ScoringModel, now: datetime) -> models.Q:
    """Leads the model makes MQLs: scores at both thresholds once any cool-off is over, or a hot
    signal (counted, like engagement, only since the lead's last recycling)."""
    cooled_off = models.Q(nurture_until__isnull=True) | models.Q(nurture_until__lte=now)
    return (_meets_thresholds(model) & cooled_off) | models.Q(hot_signal_at__isnull=False)


def _promotion_reasons(model: ScoringModel, rows: list[tuple[int, str, int, int, datetime | None]]) -> dict[int, str]:
    """The history's reason for each promoted lead: the numbers, or the hot signal that fast-tracked
    it; "back from nurture (return N)" first for a recycled lead. Two queries for the chunk."""
    hot = {pk: hot_at for pk, _, _, _, hot_at in rows if hot_at is not None}
    signal_names: dict[tuple[int, datetime], str] = {}
    if hot:
        signals = Activity.objects.filter(
            lead_id__in=list(hot), occurred_at__in=set(hot.values()), type__in=model.hot_signal_types.all()
        ).values_list("lead_id", "occurred_at", "type__name")
        signal_names = {(lead_id, at): name for lead_id, at, name in signals}
    recycled = [pk for pk, stage, _, _, _ in rows if stage == Stage.RECYCLED]
    returns: dict[int, int] = {}
    if recycled:
        returns = dict(
            StageTransition.objects.filter(lead_id__in=recycled, from_stage=Stage.RECYCLED, to_stage=Stage.MQL)
            .values("lead_id")
            .annotate(n=models.Count("id"))
            .values_list("lead_id", "n")
        )
    reasons = {}
    for pk, stage, fit, engagement, hot_at in rows:
        meets = fit >= model.mql_fit_threshold and engagement >= model.mql_engagement_threshold
        if hot_at is not None:
            signal = f"{signal_names.get((pk, hot_at), 'hot signal')} on {timezone.localtime(hot_at):%d %b %Y %H:%M}"
        if meets:
            why = (
                f"Fit {fit} ≥ {model.mql_fit_threshold} and engagement {engagement} ≥ "
                f"{model.mql_engagement_threshold}"
            )
            if hot_at is not None:
                why += f"; hot: {signal}"
        else:
            why = f"Fast track: {signal}"
        if stage == Stage.RECYCLED:
            why = f"Back from nurture (return {returns.get(pk, 0) + 1}): {why}"
        reasons[pk] = why
    return reasons


def _meets_thresholds(model: ScoringModel) -> models.Q:
    """Fit and engagement at or above the model's thresholds — compared as `score + 0`, so the
    database finds the leads by id (the batch's range, the chunk's ids) and never through the
    score indexes. Right after a rescore the planner's statistics still describe the old scores
    (all 0 before a first scoring): it took "engagement ≥ 40" for a rare value and walked the
    engagement index through most of the table for every chunk (1 ms per promoted lead at 1M)."""
    fit = models.F("fit_score") + 0
    engagement = models.F("engagement_score") + 0
    return models.Q(GreaterThanOrEqual(fit, model.mql_fit_threshold)) & models.Q(
        GreaterThanOrEqual(engagement, model.mql_engagement_threshold)
    )


PROMOTE_CHUNK = 1_000


def scoring_rescore_leads(*, lead_ids: list[int], kind: str = ScoringRunKind.INCREMENTAL) -> ScoringRun | None:
    """Rescore some leads with the active model now, then promote those that crossed the bar."""
    from leads import scoring

    model = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
    if model is None or not lead_ids:
        return None
    started = timezone.now()
    with transaction.atomic():
        hot_before = _mql_hot_signals(lead_ids)
        count = scoring.rescore(scoring.ScoringSpec.load(model), scoring.LeadSet.of(lead_ids), as_of=started).scored
        fresh = [pk for pk, hot_at in _mql_hot_signals(lead_ids).items() if hot_at and hot_at != hot_before.get(pk)]
        if fresh:
            for hook in _on_hot_mqls:
                hook(fresh)
    promoted = scoring_promote_mqls(model=model, lead_ids=lead_ids)
    return ScoringRun.objects.create(
        kind=kind,
        scoring_model=model,
        lead_count=count,
        promoted_count=promoted,
        started_at=started,
        duration_ms=int((timezone.now() - started).total_seconds() * 1000),
    )


def _mql_hot_signals(lead_ids: list[int]) -> dict[int, datetime | None]:
    return dict(Lead.objects.filter(pk__in=lead_ids, stage=Stage.MQL).values_list("pk", "hot_signal_at"))


RESCORE_DRAIN_KEY = "baton:rescore-drain-scheduled"
RESCORE_DELAY_SECONDS = 2


def rescore_request(*, lead_ids: list[int], urgent: bool = False) -> None:
    """Ask for these leads to be rescored shortly; bursts for one lead coalesce into one rescore.

    The request rows are written in the caller's transaction; after commit, one drain task is
    scheduled a couple of seconds out unless one is already pending. `urgent` (a hot signal just
    arrived: speed-to-lead) rescores these leads at once instead, in a task of their own; the
    request rows stay the safety net should that task be lost.
    """
    from django.core.cache import cache

    from leads import tasks

    ids = sorted(set(lead_ids))
    _rescore_requests_insert(ids)

    def schedule() -> None:
        if urgent:
            enqueue(tasks.rescore_leads_now, lead_ids=ids)
        elif cache.add(RESCORE_DRAIN_KEY, "1", timeout=60):
            enqueue(tasks.drain_rescore_requests, countdown=RESCORE_DELAY_SECONDS)

    transaction.on_commit(schedule)


def is_hot_signal_type() -> models.Exists:
    """An annotation for activity types: whether the active model takes it for a hot signal."""
    through = ScoringModel.hot_signal_types.through
    return models.Exists(
        through.objects.filter(activitytype_id=models.OuterRef("pk"), scoringmodel__status=ScoringModelStatus.ACTIVE)
    )


def hot_signal_types() -> frozenset[str]:
    """The activity types the active model treats as hot signals (demo request, contact sales…), one query."""
    through = ScoringModel.hot_signal_types.through
    return frozenset(
        through.objects.filter(scoringmodel__status=ScoringModelStatus.ACTIVE).values_list(
            "activitytype__code", flat=True
        )
    )


@transaction.atomic
def rescore_leads_now(*, lead_ids: list[int]) -> ScoringRun | None:
    """Rescore (and promote) these leads now, taking their waiting rescore requests: together, in
    one transaction, so a failure leaves the requests for the drain."""
    RescoreRequest.objects.filter(lead_id__in=lead_ids).delete()
    existing = list(Lead.objects.filter(pk__in=lead_ids).values_list("pk", flat=True))
    return scoring_rescore_leads(lead_ids=existing)


def _rescore_requests_insert(lead_ids: list[int]) -> None:
    """One statement for any number of leads, skipping those already waiting (ingestion calls
    this for every batch: building a model instance per lead cost more than the insert)."""
    if not lead_ids:
        return
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    if connection.vendor == "postgresql":
        sql = (
            "INSERT INTO leads_rescorerequest (lead_id, requested_at) SELECT unnest(%s::bigint[]), %s "
            "ON CONFLICT DO NOTHING"
        )
        params: list[Any] = [lead_ids, now]
    else:
        # `WHERE true` keeps SQLite from reading ON CONFLICT as part of the join.
        sql = (
            "INSERT INTO leads_rescorerequest (lead_id, requested_at) SELECT value, %s FROM json_each(%s) "
            "WHERE true ON CONFLICT DO NOTHING"
        )
        params = [now, json.dumps(lead_ids)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def rescore_requests_drain(*, limit: int = 5_000) -> int:
    """Rescore every lead waiting in RescoreRequest (up to `limit` per call). Returns how many."""
    from django.core.cache import cache

    cache.delete(RESCORE_DRAIN_KEY)  # requests arriving from now on schedule another drain
    total = 0
    while True:
        with transaction.atomic():
            pending = RescoreRequest.objects.order_by("requested_at")
            if connection.features.has_select_for_update_skip_locked:
                pending = pending.select_for_update(skip_locked=True)
            lead_ids = list(pending.values_list("lead_id", flat=True)[:limit])
            if not lead_ids:
                return total
            RescoreRequest.objects.filter(lead_id__in=lead_ids).delete()
        scoring_rescore_leads(lead_ids=lead_ids)
        total += len(lead_ids)


def rescore_threads() -> int:
    """How many batches a full rescore runs at once: one per core on PostgreSQL (each batch is one
    statement the database executes; Python only waits), one on SQLite (a single writer)."""
    from django.conf import settings

    if connection.vendor != "postgresql":
        return 1
    configured = getattr(settings, "SCORING_RESCORE_THREADS", None)
    return max(1, configured or min(os.cpu_count() or 1, 4))


def job_run_rescore_all(*, job_id: int, batch_size: int | None = None, threads: int | None = None) -> Job:
    """Rescore every lead in id-range batches, each in its own transaction, reporting progress.

    On PostgreSQL several batches run at once on their own connections — unless the caller holds
    a transaction open, whose uncommitted rows other connections could not see. Every lead is
    scored; only those whose scores, explanation, hot flag or model change are written (the
    result's `changed`), and every lead that meets the model's thresholds is promoted.
    """
    from leads import scoring

    job = Job.objects.get(pk=job_id)
    if job.is_finished:
        return job  # idempotent: a redelivered task does not run the job twice
    model = ScoringModel.objects.get(pk=job.params["model_id"])
    spec = scoring.ScoringSpec.load(model)
    batch_size = batch_size or job.params.get("batch_size") or scoring.DEFAULT_BATCH_SIZE
    ranges = list(scoring.id_ranges(batch_size=batch_size))
    claimed = jobs.job_claim(job_id=job.pk, total=len(ranges))
    if claimed is None:  # another run is at it (a message delivered twice)
        return Job.objects.get(pk=job.pk)
    started = timezone.now()
    workers = 1 if connection.in_atomic_block else min(threads or rescore_threads(), max(len(ranges), 1))

    def run_batch(id_range: tuple[int, int]) -> tuple[int, int, int]:
        with transaction.atomic():
            rescored = scoring.rescore(spec, scoring.LeadSet.between(*id_range), as_of=started)
        promoted = scoring_promote_mqls(model=model, id_range=id_range)
        jobs.job_progress(job_id=job.pk, add=1)
        return rescored.scored, rescored.written, promoted

    def run_batch_in_thread(id_range: tuple[int, int]) -> tuple[int, int, int]:
        try:
            return run_batch(id_range)
        finally:
            connection.close()  # this thread's own connection

    try:
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rescore") as pool:
                results = list(pool.map(run_batch_in_thread, ranges))
        else:
            results = [run_batch(id_range) for id_range in ranges]
    except Exception as exc:
        jobs.job_fail(job_id=job.pk, error=f"The rescoring stopped: {exc}")
        raise
    scored = sum(count for count, _, _ in results)
    changed = sum(count for _, count, _ in results)
    promoted = sum(count for _, _, count in results)
    finished = timezone.now()
    run = ScoringRun.objects.create(
        kind=job.params.get("run_kind", ScoringRunKind.PUBLISH),
        scoring_model=model,
        lead_count=scored,
        promoted_count=promoted,
        started_at=started,
        duration_ms=int((finished - started).total_seconds() * 1000),
    )
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        finished_at=finished,
        result={"leads": scored, "changed": changed, "promoted": promoted, "seconds": run.duration_ms / 1000},
    )
    job.refresh_from_db()
    return job


def scoring_decay_all() -> Job | None:
    """Nightly: rescore every lead with the active model so engagement decays with time."""
    model = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
    if model is None:
        return None
    job = Job.objects.create(kind="rescore_all", params={"model_id": model.pk, "run_kind": ScoringRunKind.DECAY})
    return job_run_rescore_all(job_id=job.pk)


@transaction.atomic
def scoring_preview_start(*, model_id: int, user: Any) -> Job:
    """Start comparing a draft with the active model on every lead (a Job to watch)."""
    from leads import tasks

    draft = _scoring_draft(model_id)
    job = Job.objects.create(kind="scoring_preview", params={"model_id": draft.pk}, created_by=user)
    enqueue_on_commit(tasks.run_scoring_preview, job_id=job.pk)
    return job


def job_run_scoring_preview(*, job_id: int, batch_size: int | None = None) -> Job:
    """How many leads qualify as MQL under the draft vs the active model, by channel, and which
    leads change; and how many hot leads each would fast-track or hold for review (the fast track,
    leads.fast_track: a nurture cool-off holds too) — computed on current data without writing
    any score."""
    from leads import scoring

    job = Job.objects.get(pk=job_id)
    if job.is_finished:
        return job
    draft = ScoringModel.objects.get(pk=job.params["model_id"])
    active = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first() or draft
    active_spec, draft_spec = scoring.ScoringSpec.load(active), scoring.ScoringSpec.load(draft)
    batch_size = batch_size or job.params.get("batch_size") or scoring.DEFAULT_BATCH_SIZE
    ranges = list(scoring.id_ranges(batch_size=batch_size))
    if jobs.job_claim(job_id=job.pk, total=len(ranges)) is None:  # another run is at it
        return Job.objects.get(pk=job.pk)
    as_of = timezone.now()
    summary: dict[str, Any] = {
        "leads": 0,
        "active_mql": 0,
        "draft_mql": 0,
        "gained_count": 0,
        "lost_count": 0,
        "active_fast_track": 0,
        "draft_fast_track": 0,
        "active_held": 0,
        "draft_held": 0,
    }
    try:
        for index, id_range in enumerate(ranges, start=1):
            scoring.preview_batch(
                active_spec, draft_spec, scoring.LeadSet.between(*id_range), as_of=as_of, summary=summary
            )
            jobs.job_progress(job_id=job.pk, done=index)
    except Exception as exc:
        jobs.job_fail(job_id=job.pk, error=f"The preview stopped: {exc}")
        raise
    summary.update(active_version=active.version, draft_version=draft.version, as_of=as_of.isoformat())
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DONE, finished_at=timezone.now(), result=summary)
    job.refresh_from_db()
    return job


# --- Duplicates ------------------------------------------------------------------------------

# Called inside the merge transaction with (survivor_id, duplicate_id), before the duplicate is
# deleted, so other apps (handoff) can move what they hold about the duplicate.
_on_merge: list[Callable[[int, int], None]] = []


def on_merge(callback: Callable[[int, int], None]) -> Callable[[int, int], None]:
    if callback not in _on_merge:
        _on_merge.append(callback)
    return callback


PROFILE_FIELDS = ("first_name", "last_name", "job_title", "phone", "company_id")
ATTRIBUTION_FIELDS = ("source_channel", "source_detail", "campaign_id")


@transaction.atomic
def lead_merge(*, survivor_id: int, duplicate_id: int, actor: Actor) -> Lead:
    """Merge a duplicate into the survivor: activities and stage history move over, blank profile
    fields are filled from the duplicate, the earlier first touch wins, the duplicate is deleted,
    and a LeadMerge row records it all in the survivor's history."""
    if survivor_id == duplicate_id:
        raise ValidationError({"duplicate": "A lead cannot be merged into itself."})
    if actor.user is None:
        raise ValidationError({"actor": "Merges are made by a person."})
    locked = {
        lead.pk: lead
        for lead in Lead.objects.select_for_update().filter(pk__in=[survivor_id, duplicate_id]).order_by("pk")
    }
    if len(locked) != 2:
        raise ValidationError({"duplicate": "One of the leads no longer exists (merged or deleted meanwhile)."})
    survivor, duplicate = locked[survivor_id], locked[duplicate_id]
    changed: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if not getattr(survivor, name) and getattr(duplicate, name):
            changed[name] = getattr(duplicate, name)
    if duplicate.created_at < survivor.created_at:
        changed["created_at"] = duplicate.created_at
        for name in ATTRIBUTION_FIELDS:
            changed[name] = getattr(duplicate, name)
    for callback in _on_merge:
        callback(survivor.pk, duplicate.pk)
    activities = Activity.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk)
    transitions = StageTransition.objects.filter(lead_id=duplicate.pk).update(lead_id=survivor.pk)
    LeadMerge.objects.create(
        survivor=survivor,
        merged_lead_id=duplicate.pk,
        merged_email=duplicate.email,
        merged_name=duplicate.full_name,
        activities_moved=activities,
        transitions_moved=transitions,
        actor=actor.user,
    )
    duplicate.delete()
    if changed:
        for name, value in changed.items():
            setattr(survivor, name, value)
        survivor.phone_digits = phone_digits(survivor.phone)
        survivor.save(update_fields=[*changed, "phone_digits", "updated_at"])
    rescore_request(lead_ids=[survivor.pk])
    return survivor
