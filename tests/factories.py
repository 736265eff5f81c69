"""factory_boy factories. States are reached through services (see `lead_at_stage`)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from crm.roles import Role
from leads import services
from leads.lifecycle import FUNNEL, Actor, Stage
from leads.models import Activity, ActivityType, Campaign, Channel, Company, CompanySize, Industry, Lead


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@baton.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create: bool, extracted: Role | None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if create and extracted:
            self.groups.add(Group.objects.get(name=Role(extracted).value))


def marketer(**kwargs) -> object:  # type: ignore[no-untyped-def]
    return UserFactory(role=Role.MARKETER, **kwargs)


def sdr(**kwargs) -> object:  # type: ignore[no-untyped-def]
    return UserFactory(role=Role.SDR, **kwargs)


def manager(**kwargs) -> object:  # type: ignore[no-untyped-def]
    return UserFactory(role=Role.MANAGER, **kwargs)


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("domain",)

    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.example")
    industry = Industry.SOFTWARE
    size = CompanySize.S_51_200
    country = "US"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Campaign {n}")
    slug = factory.Sequence(lambda n: f"campaign-{n}")
    channel = Channel.PAID_SEARCH


class LeadFactory(factory.django.DjangoModelFactory):
    """Creates through `leads.services.lead_create`, so every lead has its creation history."""

    class Meta:
        model = Lead

    email = factory.Sequence(lambda n: f"lead{n}@company{n}.example")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    job_title = "Head of Marketing"
    company = factory.SubFactory(CompanyFactory)
    source_channel = Channel.ORGANIC_SEARCH

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        fit_score = kwargs.pop("fit_score", None)
        engagement_score = kwargs.pop("engagement_score", None)
        lead = services.lead_create(actor=Actor.rule_named("test factory"), **kwargs)
        if fit_score is not None or engagement_score is not None:
            # Scores are computed by scoring; tests that only need a number set it directly.
            Lead.objects.filter(pk=lead.pk).update(
                fit_score=fit_score or 0, engagement_score=engagement_score or 0
            )
            lead.refresh_from_db()
        return lead


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    lead = factory.SubFactory(LeadFactory)
    type = factory.LazyFunction(lambda: ActivityType.objects.get(code="page_view"))
    properties = factory.LazyFunction(lambda: {"url": "/product"})
    source_system = "test"
    external_id = factory.Sequence(lambda n: f"evt-{n}")


QUALIFIED_BANT = {
    "budget_status": "approved",
    "budget_amount": Decimal("48000"),
    "budget_currency": "USD",
    "authority_role": "decision_maker",
    "decision_maker": "Dana Diaz, VP Revenue",
    "need_pain": "Leads go cold before sales calls them back.",
    "need_use_case": "Route and track every inbound demo request",
    "timeframe": "3m",
    "outcome": "qualified",
}


def qualified_bant(**overrides):  # type: ignore[no-untyped-def]
    data = {**QUALIFIED_BANT, "expected_decision_date": timezone.localdate() + timedelta(days=60)}
    data.update(overrides)
    return data


def lead_at_stage(stage: Stage, *, actor_user=None, **kwargs) -> Lead:  # type: ignore[no-untyped-def]
    """A lead walked through the lifecycle to `stage`, with a full history. Stages from SQL on
    are reached the only way there is: a qualified discovery call, logged by a manager."""
    from handoff import services as handoff_services

    lead = LeadFactory(**kwargs)
    actor = Actor(user=actor_user) if actor_user else Actor.rule_named("test walk")
    path = list(FUNNEL[1 : FUNNEL.index(stage) + 1]) if stage in FUNNEL else [Stage(stage)]
    walker = None
    for step in path:
        if step in (Stage.SQL, Stage.OPPORTUNITY, Stage.CUSTOMER):
            walker = walker or manager(username="walker")
            if step == Stage.SQL:
                handoff_services.call_log(lead_id=lead.pk, user=walker, data=qualified_bant())
            else:
                handoff_services.lead_advance(lead_id=lead.pk, user=walker, to=step, reason=f"test: to {step}")
            lead.refresh_from_db()
            continue
        lead = services.lead_transition(lead_id=lead.pk, to=step, actor=actor, reason=f"test: to {step}")
    return lead
