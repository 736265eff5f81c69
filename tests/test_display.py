"""The list pages' shortcuts write exactly what Django would: dates as the `date` filter writes
them, URLs as `reverse` builds them."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django import forms
from django.contrib.humanize.templatetags import humanize
from django.urls import reverse
from django.utils import formats, timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.display import DateTexts, input_html, naturaltime, select_html, url_maker

# Every format the list pages and the timeline use, and a few more with every kind of character.
FORMATS = (
    "DATETIME_FORMAT",
    "DATE_FORMAT",
    "M j, Y",
    "M j, Y H:i",
    "M j, H:i",
    "D j M, H:i",
    "D j M Y, H:i T",
    "c",
    r"l jS \o\f F Y, P (a A f g G h H i s) e O T Z I U",
    "b d E L m n N o t w W y z",
)
ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")

# Hypothesis takes naive bounds and makes aware values in the given zone.
moments = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=300, deadline=None)
@given(moment=moments, zone=st.sampled_from(ZONES))
def test_dates_read_as_the_date_filter_writes_them(moment, zone):
    texts = DateTexts()
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        local = timezone.localtime(moment)
        for fmt in FORMATS:
            assert texts.format(local, fmt) == formats.date_format(local, fmt), fmt
        assert texts.format(local.date(), "M j, Y") == formats.date_format(local.date(), "M j, Y")


def test_midnight_and_noon_keep_their_words():
    texts = DateTexts()
    for hour in (0, 12):
        moment = datetime(2026, 5, 4, hour, 0, tzinfo=UTC)
        assert texts.format(moment, "P") == formats.date_format(moment, "P") == ("midnight", "noon")[hour // 12]


@settings(deadline=None)  # the first call loads the URL configuration
@given(pk=st.integers(min_value=1, max_value=2**62))
def test_urls_are_built_as_reverse_builds_them(pk):
    assert url_maker("leads:detail")(pk) == reverse("leads:detail", args=[pk])
    assert url_maker("handoff:work_lead")(pk) == reverse("handoff:work_lead", args=[pk])


class Choices(forms.Form):
    plain = forms.ChoiceField(choices=[("", "Any"), ("a", "A & B"), ("b", '"Quoted"')], required=False)
    grouped = forms.ChoiceField(choices=[("", "Pick"), ("Fruit", [("apple", "Apple"), ("pear", "Pear")]), ("x", "X")])
    styled = forms.ChoiceField(
        choices=[("1", "One"), ("2", "Two")],
        widget=forms.Select(attrs={"class": "form-select is-invalid", "data-autosubmit": True, "hidden": False}),
        help_text="Helps.",
    )


def squash(html: str) -> str:
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


def test_a_select_reads_as_the_widget_writes_it():
    for form in (
        Choices(),
        Choices(data={"plain": "a", "grouped": "pear", "styled": "2"}),
        Choices(data={"plain": "zz", "styled": "3"}, auto_id="f_%s"),  # errors: aria-invalid, no choice
    ):
        form.is_valid()
        for name in form.fields:
            assert squash(select_html(form[name])) == squash(form[name]), name


class Inputs(forms.Form):
    low = forms.IntegerField(required=False, widget=forms.NumberInput(attrs={"class": "form-control", "step": "1"}))
    name = forms.CharField(max_length=20, help_text="Helps.", widget=forms.TextInput(attrs={"placeholder": '"b" & c'}))
    when = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date", "data-x": True, "off": False}))


def test_an_input_reads_as_the_widget_writes_it():
    for form in (
        Inputs(),
        Inputs(data={"low": "12", "name": "<b>Ann</b>", "when": "2026-12-07"}),
        Inputs(data={"low": "twelve", "name": "x" * 30, "when": "soon"}, auto_id="f_%s"),  # every field in error
        Inputs(initial={"low": 3, "name": "Bo"}),
    ):
        form.is_valid()
        for name in form.fields:
            assert squash(input_html(form[name])) == squash(form[name]), name


@settings(max_examples=600, deadline=None)
@given(
    now=moments,
    seconds=st.one_of(
        st.integers(min_value=-3 * 86400, max_value=3 * 86400),
        st.integers(min_value=-40 * 86400, max_value=40 * 86400),  # either side of four weeks
        st.integers(min_value=-3 * 366 * 86400, max_value=3 * 366 * 86400),
    ),
)
def test_time_ago_reads_as_naturaltime_writes_it(now, seconds):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return now.astimezone(tz)

    value = now - timedelta(seconds=seconds, microseconds=seconds % 7)
    with pytest.MonkeyPatch.context() as patch:  # naturaltime reads the clock itself
        patch.setattr(humanize, "datetime", Frozen)
        expected = str(humanize.naturaltime(value))
    assert naturaltime(value, now) == expected
