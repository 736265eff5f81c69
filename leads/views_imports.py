"""CSV import pages: upload, map the columns, watch the job, download the rows that failed.

Every page needs `leads.add_csvimport` (marketers and managers). An import — its mapping, its
progress and its failed rows, which hold the file's personal data — is shown only to the person
who uploaded it and to managers; to anyone else it does not exist (404).
"""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import PurePath
from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views import View

from crm.roles import Role, user_has_role
from leads import csv_import
from leads.forms_imports import ImportMappingForm, ImportUploadForm
from leads.forms_scoring import put_service_errors
from leads.models import CsvImport, ImportKind, JobStatus

IMPORT_PERMISSION = "leads.add_csvimport"
PREVIEW_ROWS = 5
RECENT_IMPORTS = 20


class ImportPermissionMixin(PermissionRequiredMixin):
    permission_required = IMPORT_PERMISSION


def sees_every_import(user: AbstractBaseUser) -> bool:
    return user.is_superuser or user_has_role(user, Role.MANAGER)


def imports_for(user: AbstractBaseUser) -> QuerySet[CsvImport]:
    imports = CsvImport.objects.select_related("job", "created_by")
    return imports if sees_every_import(user) else imports.filter(created_by=user)


def import_or_404(request: HttpRequest, pk: int) -> CsvImport:
    record = CsvImport.objects.select_related("job", "created_by").filter(pk=pk).first()
    if record is None or (record.created_by_id != request.user.pk and not sees_every_import(request.user)):
        raise Http404("No import with this id.")
    return record


class ImportListView(ImportPermissionMixin, View):
    """GET: the upload form and recent imports. POST: check and keep the file, then map it."""

    template_name = "leads/imports/list.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.show(ImportUploadForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                record = csv_import.csv_import_create(
                    upload=form.cleaned_data["file"],
                    kind=form.cleaned_data["kind"],
                    encoding=form.cleaned_data["encoding"],
                    user=request.user,
                )
            except ValidationError as error:
                put_service_errors(form, error)
            else:
                messages.success(
                    request,
                    f"{record.original_name}: {record.row_count} row{'s' if record.row_count != 1 else ''} "
                    "read. Check which column feeds which field, then start the import.",
                )
                return redirect("leads:import_map", pk=record.pk)
        return self.show(form)

    def show(self, form: ImportUploadForm) -> HttpResponse:
        context = {
            "form": form,
            "imports": list(imports_for(self.request.user).order_by("-created_at", "-id")[:RECENT_IMPORTS]),
            "sees_every_import": sees_every_import(self.request.user),
            "targets": [(ImportKind(kind).label, targets) for kind, targets in csv_import.TARGETS.items()],
        }
        return render(self.request, self.template_name, context)


def preview_rows(record: CsvImport, limit: int = PREVIEW_ROWS) -> list[list[str]]:
    """The first non-blank data rows, padded or cut to the header's width."""
    width = len(record.headers)
    try:
        with record.file.open("rb") as raw:
            stream = io.TextIOWrapper(raw, encoding=record.encoding, newline="")
            reader = csv.reader(stream, delimiter=record.delimiter)
            next(reader, None)
            rows = itertools.islice((row for row in reader if any(cell.strip() for cell in row)), limit)
            return [(row + [""] * width)[:width] for row in rows]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


class ImportMapView(ImportPermissionMixin, View):
    """GET: which column feeds which field (guessed at upload). POST: save it and start the job."""

    template_name = "leads/imports/map.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        record = import_or_404(request, pk)
        if record.job_id:
            return redirect("leads:import_detail", pk=record.pk)
        return self.show(record, ImportMappingForm(record=record))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        record = import_or_404(request, pk)
        if record.job_id:
            messages.info(request, "This import has already started.")
            return redirect("leads:import_detail", pk=record.pk)
        form = ImportMappingForm(request.POST, record=record)
        if form.is_valid():
            try:
                csv_import.csv_import_map(
                    import_id=record.pk, mapping=form.chosen_mapping(), time_zone=form.chosen_time_zone()
                )
                csv_import.csv_import_start(import_id=record.pk)
            except ValidationError as error:
                put_service_errors(form, error)
            else:
                return redirect("leads:import_detail", pk=record.pk)
        return self.show(record, form)

    def show(self, record: CsvImport, form: ImportMappingForm) -> HttpResponse:
        form.mark_invalid()
        context = {"record": record, "form": form, "rows": preview_rows(record)}
        return render(self.request, self.template_name, context)


RESULT_LABELS = (
    ("created", "Created", "success"),
    ("updated", "Updated", "primary"),
    ("unchanged", "Unchanged", "secondary"),
    ("duplicate", "Already imported", "secondary"),
    ("failed", "Failed", "danger"),
)


class ImportDetailView(ImportPermissionMixin, View):
    """An import's progress (polled through leads:job), then its counts and failed rows."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        record = import_or_404(request, pk)
        if record.job is None:
            return redirect("leads:import_map", pk=record.pk)
        counts: list[dict[str, Any]] = []
        if record.job.status == JobStatus.DONE:
            result = record.job.result or {}
            counts = [
                {"key": key, "label": label, "tone": tone, "value": result.get(key, 0)}
                for key, label, tone in RESULT_LABELS
                if key in result or key in ("created", "failed")
            ]
        context = {"record": record, "job": record.job, "counts": counts, "mapped": _mapped(record)}
        return render(request, "leads/imports/detail.html", context)


def _mapped(record: CsvImport) -> list[tuple[str, str]]:
    labels = {target.name: target.label for target in csv_import.TARGETS[record.kind]}
    return [(labels.get(field, field), column) for field, column in record.mapping.items()]


class ImportFailuresView(ImportPermissionMixin, View):
    """The failed rows with the reason for each, as CSV: to the importer and managers only."""

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        record = import_or_404(request, pk)
        if not record.failures_file:
            raise Http404("This import has no failed rows.")
        try:
            handle = record.failures_file.open("rb")
        except FileNotFoundError as exc:
            raise Http404("The failed rows file is no longer available.") from exc
        stem = PurePath(record.original_name).stem or "import"
        response = FileResponse(handle, as_attachment=True, filename=f"{stem}-failed-rows.csv", content_type="text/csv")
        response["Cache-Control"] = "private, no-store"
        return response
