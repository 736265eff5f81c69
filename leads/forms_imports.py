"""Forms of the CSV import pages. Shape only: `leads.csv_import` checks the file and the mapping,
and its `ValidationError`s are put on the field they name."""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms

from leads.csv_import import ENCODINGS, TARGETS
from leads.models import CsvImport, ImportKind

NOT_IMPORTED = "— not imported —"


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    zones = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return [("UTC", "UTC"), *((zone, zone.replace("_", " ")) for zone in zones)]


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        # Empty files reach csv_import_create, which says what is wrong in its own words.
        allow_empty_file=True,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        help_text="The first row names the columns. Commas, semicolons, tabs or pipes separate values.",
    )
    kind = forms.ChoiceField(
        label="The file contains",
        choices=ImportKind.choices,
        initial=ImportKind.LEADS,
        widget=forms.RadioSelect,
    )
    encoding = forms.ChoiceField(
        label="Encoding",
        choices=list(ENCODINGS.items()),
        initial="utf-8-sig",
        help_text="Excel on Windows saves “CSV” as Windows-1252 and “CSV UTF-8” as UTF-8.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True


class ImportMappingForm(forms.Form):
    """One select per Baton field (TARGETS[kind]) listing the file's columns; a time zone for
    activity dates. Field names are the target names, so `csv_import_map` errors land on them."""

    def __init__(self, *args: Any, record: CsvImport, **kwargs: Any) -> None:
        if not args and "initial" not in kwargs:
            kwargs["initial"] = {**record.mapping, "time_zone": record.time_zone}
        super().__init__(*args, **kwargs)
        self.record = record
        columns = [("", NOT_IMPORTED), *((h, h) for h in record.headers)]
        self.targets = TARGETS[record.kind]
        for target in self.targets:
            field = forms.ChoiceField(label=target.label, choices=columns, required=False)
            field.baton_required = target.required  # type: ignore[attr-defined]
            self.fields[target.name] = field
        if record.kind == ImportKind.ACTIVITIES:
            self.fields["time_zone"] = forms.ChoiceField(
                label="Time zone of the dates",
                choices=time_zone_choices(),
                help_text="For dates in the file that do not say their zone (“2026-11-22 09:30”).",
            )
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select"

    def mark_invalid(self) -> None:
        """Highlight the selects with errors (the form's own and those the service raised)."""
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["class"] = "form-select is-invalid"
                self.fields[name].widget.attrs["aria-invalid"] = "true"

    def target_fields(self) -> list[tuple[Any, forms.BoundField]]:
        """(target, bound field) in the order of TARGETS, for the mapping table."""
        return [(target, self[target.name]) for target in self.targets]

    def chosen_mapping(self) -> dict[str, str]:
        return {target.name: self.cleaned_data.get(target.name) or "" for target in self.targets}

    def chosen_time_zone(self) -> str:
        return self.cleaned_data.get("time_zone") or self.record.time_zone or "UTC"
