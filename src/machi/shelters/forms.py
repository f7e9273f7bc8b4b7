"""Forms of the staff pages: check-in by code, search, quick registration, supplies."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.shelters.models import Allergen, Need, Sex, StayType, SupplyCategory


class CodeCheckinForm(forms.Form):
    """A QR scanner acting as a keyboard types the code and Enter into this field."""

    code = forms.CharField(
        label=_("Registration code (scan the QR code or type it)"),
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autofocus": True, "autocapitalize": "none"}
        ),
    )

    def clean_code(self) -> str:
        value: str = self.cleaned_data["code"].strip()
        # Scanners may send the whole URL of the resident's page; keep the last path part.
        return value.rstrip("/").rsplit("/", 1)[-1]


class SearchForm(forms.Form):
    q = forms.CharField(label=_("Name or reading"), max_length=64, required=False)
    birth_date = forms.DateField(
        label=_("Date of birth"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        if not cleaned.get("q") and not cleaned.get("birth_date") and not self.errors:
            raise forms.ValidationError(_("Enter a name, a reading or a date of birth."))
        return cleaned


class QuickRegisterForm(forms.Form):
    """A new person in a few fields, checked in at once."""

    family_name = forms.CharField(label=_("Family name"), max_length=64)
    given_name = forms.CharField(label=_("Given name"), max_length=64, required=False)
    family_name_kana = forms.CharField(label=_("Family name (kana)"), max_length=64, required=False)
    given_name_kana = forms.CharField(label=_("Given name (kana)"), max_length=64, required=False)
    birth_date = forms.DateField(
        label=_("Date of birth"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *Sex.choices], required=False)
    needs = forms.MultipleChoiceField(
        label=_("Needs (要配慮)"),
        choices=Need.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    stay_type = forms.ChoiceField(
        label=_("Stay"), choices=StayType.choices, initial=StayType.SHELTER
    )


class SupplyForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), choices=SupplyCategory.choices)
    item = forms.CharField(label=_("Item"), max_length=100)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=1, max_value=1_000_000)
    unit = forms.CharField(
        label=_("Unit"), max_length=16, required=False, help_text=_("e.g. 食, 本, 枚")
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class PersonEditForm(forms.Form):
    """Correct or complete a person's record at the shelter."""

    family_name = forms.CharField(label=_("Family name"), max_length=64)
    given_name = forms.CharField(label=_("Given name"), max_length=64, required=False)
    family_name_kana = forms.CharField(label=_("Family name (kana)"), max_length=64, required=False)
    given_name_kana = forms.CharField(label=_("Given name (kana)"), max_length=64, required=False)
    birth_date = forms.DateField(
        label=_("Date of birth"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *Sex.choices], required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    needs = forms.MultipleChoiceField(
        label=_("Needs (要配慮)"),
        choices=Need.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    allergies = forms.MultipleChoiceField(
        label=_("Allergies"),
        choices=Allergen.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    needs_note = forms.CharField(
        label=_("Needs, in words"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    language = forms.CharField(label=_("Language"), max_length=16, required=False)
