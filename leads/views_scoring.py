"""The scoring page: the active model, a draft's editor, its preview on current data, publishing.

Every page needs `leads.change_scoringmodel` (marketers and managers). Views parse input, call
`leads.services` and render; long work (previews, rescoring after publishing) runs as a `Job`
that the page watches through `JobStatusView` (static/js/jobs.js polls it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from crm.roles import Role, user_has_role
from leads import services
from leads.forms_scoring import DraftSettingsForm, EngagementRuleForm, FitRuleForm, put_service_errors
from leads.models import (
    Channel,
    EngagementRule,
    FitRule,
    Job,
    JobStatus,
    Lead,
    ScoringModel,
    ScoringModelStatus,
    ScoringRun,
)
from leads.scoring import OPERATORS_FOR

SCORING_PERMISSION = "leads.change_scoringmodel"
PREVIEW_JOB = "scoring_preview"
RESCORE_JOB = "rescore_all"
# What the draft looked like when a preview started, keyed by the preview's job id; a draft that
# looks different now makes the preview stale.
PREVIEW_FINGERPRINT_KEY = "baton:scoring-preview-fingerprint:{job_id}"
PREVIEW_FINGERPRINT_TIMEOUT = 60 * 60 * 24 * 30


class ScoringPermissionMixin(PermissionRequiredMixin):
    permission_required = SCORING_PERMISSION


# --- reading models ---------------------------------------------------------------------------


@dataclass
class ModelRules:
    model: ScoringModel
    fit_rules: list[FitRule]
    engagement_rules: list[EngagementRule]
    hot_types: list[Any]

    @property
    def hot_codes(self) -> list[str]:
        return [t.code for t in self.hot_types]

    @property
    def negative_fit_rules(self) -> list[FitRule]:
        """The fit rules that keep a hot lead off the fast track (leads.fast_track.junk_parts),
        most negative first."""
        return sorted((r for r in self.fit_rules if r.points < 0), key=lambda r: (r.points, r.position, r.pk))

    def fingerprint(self) -> str:
        """A digest of everything that decides the scores, to tell whether a preview still holds."""
        model = self.model
        content = {
            "thresholds": [model.mql_fit_threshold, model.mql_engagement_threshold],
            "decay": model.decay_half_life_days,
            "hot": [model.hot_signal_window_days, sorted(self.hot_codes), model.fast_track_min_fit],
            "fit": sorted(
                [r.attribute, r.operator, sorted(map(str, r.values or [])), r.points, r.label] for r in self.fit_rules
            ),
            "engagement": sorted(
                [r.activity_type_id, r.points, r.max_points, r.decays, r.label] for r in self.engagement_rules
            ),
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def model_rules(model: ScoringModel) -> ModelRules:
    return ModelRules(
        model=model,
        fit_rules=list(model.fit_rules.order_by("position", "id")),
        engagement_rules=list(
            model.engagement_rules.select_related("activity_type").order_by("-points", "activity_type__name")
        ),
        hot_types=list(model.hot_signal_types.order_by("name")),
    )


def _draft_or_redirect(request: HttpRequest, pk: int) -> ScoringModel | HttpResponse:
    model = get_object_or_404(ScoringModel.objects.select_related("created_by"), pk=pk)
    if model.status != ScoringModelStatus.DRAFT:
        messages.info(
            request,
            f"Version {model.version} is {model.get_status_display().lower()}; only a draft can be edited. "
            "Use “Edit a draft” to start one from the active version.",
        )
        return redirect("leads:scoring")
    return model


# --- the overview -----------------------------------------------------------------------------


class ScoringOverviewView(ScoringPermissionMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        active = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).select_related("published_by").first()
        draft = ScoringModel.objects.filter(status=ScoringModelStatus.DRAFT).select_related("created_by").first()
        context = {
            "active": model_rules(active) if active else None,
            "draft": draft,
            "runs": list(ScoringRun.objects.select_related("scoring_model").order_by("-started_at", "-id")[:10]),
            "versions": list(
                ScoringModel.objects.select_related("created_by", "published_by")
                .annotate(
                    fit_count=Count("fit_rules", distinct=True),
                    engagement_count=Count("engagement_rules", distinct=True),
                )
                .order_by("-version")[:15]
            ),
            "publish_job": _publish_job(request),
        }
        return render(request, "leads/scoring/overview.html", context)


def _publish_job(request: HttpRequest) -> Job | None:
    """The rescoring job to watch: the one just started (?published=id), else one still running."""
    jobs = Job.objects.filter(kind=RESCORE_JOB)
    job_id = request.GET.get("published", "")
    if job_id.isdigit():
        job = jobs.filter(pk=int(job_id)).first()
        if job is not None:
            return job
    return jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).order_by("-created_at", "-id").first()


class ScoringVersionView(ScoringPermissionMixin, View):
    """A version's rules, read-only (the active one, a retired one, or a draft's current state)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        model = get_object_or_404(ScoringModel.objects.select_related("created_by", "published_by"), pk=pk)
        return render(request, "leads/scoring/version.html", {"rules": model_rules(model), "model": model})


class ScoringDraftCreateView(ScoringPermissionMixin, View):
    """POST: open the draft, creating it from the active version when there is none."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest) -> HttpResponse:
        existing = ScoringModel.objects.filter(status=ScoringModelStatus.DRAFT).exists()
        draft = services.scoring_draft_create(user=request.user)
        if not existing:
            messages.success(
                request,
                f"Draft v{draft.version} created from the active version. "
                "Live scores don't change until you publish it.",
            )
        return redirect("leads:scoring_draft", pk=draft.pk)


# --- the draft editor -------------------------------------------------------------------------


class ScoringDraftView(ScoringPermissionMixin, View):
    """GET: the editor. POST: save the thresholds, decay and hot signals."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        draft = _draft_or_redirect(request, pk)
        if isinstance(draft, HttpResponse):
            return draft
        return render(request, "leads/scoring/draft.html", draft_context(request, draft))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        draft = _draft_or_redirect(request, pk)
        if isinstance(draft, HttpResponse):
            return draft
        rules = model_rules(draft)
        form = DraftSettingsForm(request.POST, draft=draft, hot_codes=rules.hot_codes)
        if form.is_valid():
            try:
                services.scoring_draft_update(model_id=draft.pk, **form.service_kwargs())
            except ValidationError as error:
                put_service_errors(form, error)
            else:
                messages.success(request, f"Settings of draft v{draft.version} saved.")
                return redirect(reverse("leads:scoring_draft", kwargs={"pk": draft.pk}) + "#settings")
        draft.refresh_from_db()
        context = draft_context(request, draft, settings_form=form, rules=rules)
        return render(request, "leads/scoring/draft.html", context)


def draft_context(
    request: HttpRequest,
    draft: ScoringModel,
    *,
    settings_form: DraftSettingsForm | None = None,
    rules: ModelRules | None = None,
) -> dict[str, Any]:
    rules = rules or model_rules(draft)
    active = ScoringModel.objects.filter(status=ScoringModelStatus.ACTIVE).first()
    preview_job = Job.objects.filter(kind=PREVIEW_JOB, params__model_id=draft.pk).order_by("-created_at", "-id").first()
    return {
        "draft": draft,
        "rules": rules,
        "active": active,
        "settings_form": settings_form or DraftSettingsForm(draft=draft, hot_codes=rules.hot_codes),
        "preview": preview_view(preview_job, rules.fingerprint()) if preview_job else None,
    }


@dataclass
class ChannelRow:
    label: str
    leads: int
    active: int
    draft: int
    # Hot leads fast-tracked and held for review, under the active model and the draft.
    fast_active: int = 0
    fast_draft: int = 0
    held_active: int = 0
    held_draft: int = 0

    @property
    def difference(self) -> int:
        return self.draft - self.active


@dataclass
class ChangedLead:
    lead_id: int
    lead: Lead | None
    active: tuple[int, int]
    draft: tuple[int, int]


def preview_view(job: Job, fingerprint: str) -> dict[str, Any]:
    """What the preview card shows: the job, and once it is done its numbers and changed leads."""
    started_from = cache.get(PREVIEW_FINGERPRINT_KEY.format(job_id=job.pk))
    view: dict[str, Any] = {"job": job, "stale": started_from != fingerprint, "unknown": started_from is None}
    if job.status != JobStatus.DONE:
        return view
    result = job.result or {}
    labels = dict(Channel.choices)
    fast = result.get("fast_track_by_channel") or {}
    channels = [
        ChannelRow(
            labels.get(code, code or "Unknown"),
            c.get("leads", 0),
            c.get("active", 0),
            c.get("draft", 0),
            *(fast.get(code, {}).get(key, 0) for key in ("active", "draft", "active_held", "draft_held")),
        )
        for code, c in (result.get("by_channel") or {}).items()
    ]
    channels.sort(key=lambda row: (-max(row.active, row.draft), row.label))
    samples = {key: result.get(key) or [] for key in ("gained", "lost")}
    ids = [item["lead_id"] for items in samples.values() for item in items]
    leads = Lead.objects.in_bulk(ids) if ids else {}
    view.update(
        result=result,
        difference=result.get("draft_mql", 0) - result.get("active_mql", 0),
        # Previews run before the fast track was counted have no such numbers.
        counts_fast_track="active_fast_track" in result,
        fast_track_difference=result.get("draft_fast_track", 0) - result.get("active_fast_track", 0),
        held_difference=result.get("draft_held", 0) - result.get("active_held", 0),
        channels=channels,
        gained=[_changed(item, leads) for item in samples["gained"]],
        lost=[_changed(item, leads) for item in samples["lost"]],
    )
    return view


def _changed(item: dict[str, Any], leads: dict[int, Lead]) -> ChangedLead:
    return ChangedLead(
        lead_id=item["lead_id"],
        lead=leads.get(item["lead_id"]),
        active=tuple(item.get("active") or (0, 0)),  # type: ignore[arg-type]
        draft=tuple(item.get("draft") or (0, 0)),  # type: ignore[arg-type]
    )


class FitRuleView(ScoringPermissionMixin, View):
    """Add a fit rule to the draft (no rule_id) or change one."""

    template_name = "leads/scoring/fit_rule_form.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.has_permission():
            return self.handle_no_permission()
        draft = _draft_or_redirect(request, kwargs["pk"])
        if isinstance(draft, HttpResponse):
            return draft
        self.draft = draft
        rule_id = kwargs.get("rule_id")
        self.rule = get_object_or_404(FitRule, pk=rule_id, scoring_model=draft) if rule_id else None
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self.show(FitRuleForm(rule=self.rule))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = FitRuleForm(request.POST, rule=self.rule)
        if form.is_valid():
            try:
                rule = services.fit_rule_save(
                    model_id=self.draft.pk, rule_id=self.rule.pk if self.rule else None, **form.service_kwargs()
                )
            except ValidationError as error:
                form.add_service_errors(error)
            else:
                messages.success(request, f"Fit rule “{rule.label}” saved.")
                return redirect(reverse("leads:scoring_draft", kwargs={"pk": self.draft.pk}) + "#fit-rules")
        return self.show(form)

    def show(self, form: FitRuleForm) -> HttpResponse:
        context = {
            "draft": self.draft,
            "rule": self.rule,
            "form": form,
            "operators_for": {attribute: list(operators) for attribute, operators in OPERATORS_FOR.items()},
        }
        return render(self.request, self.template_name, context)


class EngagementRuleView(ScoringPermissionMixin, View):
    """Add an engagement rule to the draft (no rule_id) or change one."""

    template_name = "leads/scoring/engagement_rule_form.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.has_permission():
            return self.handle_no_permission()
        draft = _draft_or_redirect(request, kwargs["pk"])
        if isinstance(draft, HttpResponse):
            return draft
        self.draft = draft
        rule_id = kwargs.get("rule_id")
        self.rule = (
            get_object_or_404(EngagementRule.objects.select_related("activity_type"), pk=rule_id, scoring_model=draft)
            if rule_id
            else None
        )
        self.used_types = set(draft.engagement_rules.values_list("activity_type_id", flat=True))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self.show(EngagementRuleForm(rule=self.rule, used_types=self.used_types))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = EngagementRuleForm(request.POST, rule=self.rule, used_types=self.used_types)
        if form.is_valid():
            try:
                rule = services.engagement_rule_save(
                    model_id=self.draft.pk, rule_id=self.rule.pk if self.rule else None, **form.service_kwargs()
                )
            except ValidationError as error:
                put_service_errors(form, error)
            else:
                messages.success(request, f"Engagement rule for “{rule.activity_type.name}” saved.")
                return redirect(reverse("leads:scoring_draft", kwargs={"pk": self.draft.pk}) + "#engagement-rules")
        return self.show(form)

    def show(self, form: EngagementRuleForm) -> HttpResponse:
        context = {"draft": self.draft, "rule": self.rule, "form": form}
        return render(self.request, self.template_name, context)


class ScoringRuleDeleteView(ScoringPermissionMixin, View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int, kind: str, rule_id: int) -> HttpResponse:
        if kind not in ("fit", "engagement"):
            raise Http404("No such kind of rule.")
        draft = _draft_or_redirect(request, pk)
        if isinstance(draft, HttpResponse):
            return draft
        try:
            services.scoring_rule_delete(model_id=draft.pk, kind=kind, rule_id=rule_id)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"The {kind} rule was removed from draft v{draft.version}.")
        return redirect(reverse("leads:scoring_draft", kwargs={"pk": draft.pk}) + f"#{kind}-rules")


class ScoringPreviewView(ScoringPermissionMixin, View):
    """POST: compare the draft with the active version on every lead (a job the editor watches)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        draft = _draft_or_redirect(request, pk)
        if isinstance(draft, HttpResponse):
            return draft
        fingerprint = model_rules(draft).fingerprint()
        try:
            job = services.scoring_preview_start(model_id=draft.pk, user=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            cache.set(PREVIEW_FINGERPRINT_KEY.format(job_id=job.pk), fingerprint, PREVIEW_FINGERPRINT_TIMEOUT)
        return redirect(reverse("leads:scoring_draft", kwargs={"pk": draft.pk}) + "#preview")


class ScoringPublishView(ScoringPermissionMixin, View):
    """POST: make the draft the active version and rescore every lead (a job the overview watches)."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        draft = _draft_or_redirect(request, pk)
        if isinstance(draft, HttpResponse):
            return draft
        try:
            job = services.scoring_model_publish(model_id=draft.pk, user=request.user)
        except ValidationError as error:
            messages.error(request, f"Draft v{draft.version} was not published. {' '.join(error.messages)}")
            return redirect("leads:scoring_draft", pk=draft.pk)
        messages.success(request, f"Version {draft.version} is now active; every lead is being rescored with it.")
        return redirect(reverse("leads:scoring") + f"?published={job.pk}")


# --- watching jobs ----------------------------------------------------------------------------

# Who may watch a job besides its creator and staff: holders of the permission of the page
# that starts it. CSV imports are private to the importer (and managers), like their results.
JOB_PERMISSIONS: dict[str, str] = {RESCORE_JOB: SCORING_PERMISSION, PREVIEW_JOB: SCORING_PERMISSION}


def can_watch_job(user: AbstractBaseUser, job: Job) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser or (job.created_by_id and job.created_by_id == user.pk):
        return True
    if job.kind == "csv_import":
        return user.has_perm("leads.add_csvimport") and user_has_role(user, Role.MANAGER)
    permission = JOB_PERMISSIONS.get(job.kind)
    return bool(permission and user.has_perm(permission))


def job_payload(job: Job) -> dict[str, Any]:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.is_finished,
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "result": job.result if job.status == JobStatus.DONE else None,
        "error": job.error,
        "attempts": job.attempts,
        "notes": job.notes,
    }


@method_decorator(never_cache, name="dispatch")
class JobStatusView(View):
    """GET /jobs/<id>/: a job's progress as JSON, for the progress bars (static/js/jobs.js).

    Anonymous callers get 401 (a script cannot follow a sign-in redirect); a job the user may
    not watch is 404, so ids of other people's jobs reveal nothing.
    """

    http_method_names = ["get"]

    def get(self, request: HttpRequest, pk: int) -> JsonResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "Your session has ended; sign in again."}, status=401)
        job = Job.objects.filter(pk=pk).first()
        if job is None or not can_watch_job(request.user, job):
            return JsonResponse({"error": "No such job."}, status=404)
        return JsonResponse(job_payload(job))
