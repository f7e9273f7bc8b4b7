"""Forms of the weather desk: JMA files to upload, a CAP alert to add, a declaration rule."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from machi.core import safexml
from machi.core.hazards import Hazard
from machi.emergency.models import DeclarationRuleAction

# One message is a few to a few hundred kilobytes; safexml refuses more than this anyway.
MAX_FILE_BYTES = safexml.DEFAULT_MAX_BYTES
MAX_FILES = 50


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented recipe)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".xml,application/xml"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def _check_size(upload: UploadedFile) -> None:
    if (upload.size or 0) > MAX_FILE_BYTES:
        raise forms.ValidationError(
            _("%(name)s is larger than %(limit)s MB.")
            % {"name": upload.name, "limit": MAX_FILE_BYTES // (1024 * 1024)}
        )


class JmaUploadForm(forms.Form):
    documents = MultipleFileField(
        label=_("JMA XML files"),
        help_text=_(
            "Messages in 気象庁防災情報XML (up to 50 files of 2 MB). Each file is stored once; "
            "one that cannot be read is kept as rejected, with the reason."
        ),
    )

    def clean_documents(self) -> list[UploadedFile]:
        files: list[UploadedFile] = self.cleaned_data.get("documents") or []
        if not files:
            raise forms.ValidationError(_("Choose at least one file."))
        if len(files) > MAX_FILES:
            raise forms.ValidationError(
                _("Upload at most %(count)s files at once.") % {"count": MAX_FILES}
            )
        for upload in files:
            _check_size(upload)
        return files


class AlertAddForm(forms.Form):
    url = forms.URLField(
        label=_("Address of the alert"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_("An http or https address of a CAP 1.1 or 1.2 document."),
    )
    document = forms.FileField(
        label=_("Or a CAP file"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".xml,.cap,application/cap+xml"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        url, document = cleaned.get("url"), cleaned.get("document")
        if self.errors:
            return cleaned
        if url and document:
            raise forms.ValidationError(_("Give an address or a file, not both."))
        if not url and not document:
            self.add_error("url", _("Give the address of the alert, or choose a file."))
        if document:
            try:
                _check_size(document)
            except forms.ValidationError as exc:
                self.add_error("document", exc)
        return cleaned


_CODES = re.compile(r"[\s,、，]+")


class DeclarationRuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    kind_codes = forms.CharField(
        label=_("JMA kind codes"),
        required=False,
        max_length=200,
        help_text=_(
            "Separated by commas, for example 33 (大雨特別警報), 03 (大雨警報), "
            "3 (土砂災害警戒情報), 6- (震度6弱). Empty: any kind."
        ),
    )
    min_level = forms.TypedChoiceField(
        label=_("Minimum level (警戒レベル)"),
        required=False,
        choices=[("", _("Any level")), *[(str(n), str(n)) for n in range(1, 6)]],
        coerce=int,
        empty_value=None,
    )
    hazard = forms.ChoiceField(
        label=_("Hazard of the disaster"),
        choices=Hazard.choices,
        help_text=_("Declared (or suggested) with this hazard, which decides the shelters."),
    )
    action = forms.ChoiceField(
        label=_("Action"),
        choices=DeclarationRuleAction.choices,
        initial=DeclarationRuleAction.SUGGEST,
        widget=forms.RadioSelect,
    )

    def clean_kind_codes(self) -> list[str]:
        text = self.cleaned_data.get("kind_codes") or ""
        return [code for code in _CODES.split(text.strip()) if code]
