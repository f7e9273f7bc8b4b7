"""Forms of the open data console."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.opendata import catalog, generators
from machi.opendata.models import Dataset, Resource

MAX_CHECK_BYTES = 20 * 1024 * 1024
RESERVED_NAMES = frozenset({"new", "generate", "check"})  # console addresses


class DatasetForm(forms.ModelForm):
    tags_text = forms.CharField(
        label=_("Keywords"),
        required=False,
        max_length=500,
        help_text=_("Separated by ; or 、 e.g. 防災;避難所"),
    )

    class Meta:
        model = Dataset
        fields = (
            "name",
            "title",
            "title_en",
            "notes",
            "notes_en",
            "theme",
            "license_id",
            "frequency",
            "department",
            "contact_email",
            "published",
        )
        widgets = {
            "license_id": forms.Select(
                choices=[(key, title) for key, (title, _url) in catalog.LICENSES.items()]
            ),
            "notes": forms.Textarea(attrs={"rows": 4}),
            "notes_en": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["tags_text"].initial = ";".join(self.instance.tags)
            if self.instance.generator:
                # Machi's own datasets keep their name: the files' addresses depend on it.
                self.fields["name"].disabled = True

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"])
        if name in RESERVED_NAMES:
            raise forms.ValidationError(_("This name is used by the console; choose another."))
        return name

    def clean_tags_text(self) -> list[str]:
        text = self.cleaned_data.get("tags_text", "")
        tags = [t.strip() for t in re.split(r"[;；、,，]", text)]
        tags = [t for t in tags if t]
        if any(len(t) > 100 for t in tags):
            raise forms.ValidationError(_("A keyword can be at most 100 characters."))
        return list(dict.fromkeys(tags))

    def save(self, commit: bool = True) -> Dataset:
        dataset: Dataset = super().save(commit=False)
        dataset.tags = self.cleaned_data["tags_text"]
        if commit:
            dataset.save()
        return dataset


class ResourceForm(forms.ModelForm):
    url = forms.URLField(label=_("address of the file"), max_length=500, assume_scheme="https")

    class Meta:
        model = Resource
        fields = ("key", "name", "name_en", "format", "url", "description")
        labels = {"key": _("Short name (in addresses)")}
        help_texts = {"key": _("Lowercase letters, digits, - or _, e.g. 2025")}
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def clean_key(self) -> str:
        key = self.cleaned_data["key"].strip()
        if not re.fullmatch(r"[a-z0-9_-]{1,32}", key):
            raise forms.ValidationError(_("Use 1 to 32 lowercase letters, digits, - or _."))
        return key

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "")
        if not url:
            raise forms.ValidationError(_("Enter the address of the file."))
        return str(url)

    def clean_format(self) -> str:
        return str(self.cleaned_data["format"]).strip().upper()


def layout_choices() -> list[tuple[str, str]]:
    return [
        (f"{g.key}:{layout.key}", f"{g.title} — {layout.name}")
        for g in generators.GENERATORS
        for layout in g.layouts
    ]


class CheckForm(forms.Form):
    layout = forms.ChoiceField(label=_("Standard layout"), choices=layout_choices)
    file = forms.FileField(label=_("CSV file"))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_CHECK_BYTES:
            raise forms.ValidationError(_("The file is larger than 20 MB."))
        return upload
