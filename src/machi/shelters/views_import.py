"""The shelter registry upload page: the same importer as `machi shelters import`, for HQ."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from machi.core import access
from machi.core.roles import Action
from machi.core.views import staff_required
from machi.shelters import importers
from machi.shelters.models import Shelter

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


class ShelterImportForm(forms.Form):
    file = forms.FileField(
        label=_("Shelter file"),
        help_text=_(
            "GSI 指定避難所 or 指定緊急避難場所 (CSV or GeoJSON), a standard dataset 03 "
            "(指定緊急避難場所一覧) or the city's 避難所一覧 (CSV), in UTF-8 or Shift_JIS. "
            "Up to 10 MB."
        ),
        widget=forms.FileInput(
            attrs={"accept": ".csv,.json,.geojson,text/csv,application/json,application/geo+json"}
        ),
    )
    dry_run = forms.BooleanField(
        label=_("Check the file only; save nothing"),
        required=False,
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        size = upload.size or 0
        if size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(
                _("The file is %(size)s; files of up to %(limit)s can be imported here.")
                % {"size": filesizeformat(size), "limit": filesizeformat(MAX_UPLOAD_BYTES)}
            )
        return upload


@staff_required
@require_http_methods(["GET", "POST"])
def shelter_import(request: HttpRequest) -> HttpResponse:
    """Upload a shelter file; show what was imported, or every problem by row and column."""
    access.require(request.user, Action.UPDATE, Shelter)
    posted = request.method == "POST"
    form = ShelterImportForm(request.POST, request.FILES) if posted else ShelterImportForm()
    context: dict[str, Any] = {"form": form, "max_bytes": MAX_UPLOAD_BYTES}
    status = 200
    if posted:
        status = 400
        if form.is_valid():
            upload: UploadedFile = form.cleaned_data["file"]
            try:
                context["summary"] = importers.shelters_import(
                    data=upload.read(),
                    file_name=upload.name or "",
                    dry_run=form.cleaned_data["dry_run"],
                    actor=request.user,
                )
                status = 200
            except importers.ImportRefused as refused:
                form.add_error(
                    "file",
                    _("Nothing was imported: fix the problems listed below and upload it again."),
                )
                context["problems"] = refused.problems
                context["truncated"] = refused.truncated
    return render(request, "shelters/import.html", context, status=status)
