"""Staff forms of the guide room."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.guide.models import Entry

MAX_IMPORT_BYTES = 10 * 1024 * 1024  # some thousand entries are a few megabytes


class EntryForm(forms.ModelForm):
    url = forms.URLField(
        label=_("related URL"), max_length=500, required=False, assume_scheme="https"
    )

    class Meta:
        model = Entry
        fields = (
            "key",
            "question",
            "answer",
            "category",
            "department",
            "url",
            "updated_on",
            "language",
            "mode",
            "published",
        )
        widgets = {
            "question": forms.Textarea(attrs={"rows": 2}),
            "answer": forms.Textarea(attrs={"rows": 8}),
            "updated_on": forms.DateInput(attrs={"type": "date"}),
        }
        help_texts = {
            "key": _("The FAQ's own ID (kept when the CSV is imported again)."),
            "mode": _("Entries for a disaster are put first while one is declared."),
        }


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Columns: 全国地方公共団体コード, ID, 質問, 回答, カテゴリ, 所管部署, 関連URL, 更新日, "
            "言語, モード (UTF-8 or Shift_JIS). Entries are matched by ID."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if (upload.size or 0) > MAX_IMPORT_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return upload


class FilterForm(forms.Form):
    q = forms.CharField(label=_("Words"), required=False, max_length=100)
    category = forms.CharField(label=_("Category"), required=False, max_length=64)
