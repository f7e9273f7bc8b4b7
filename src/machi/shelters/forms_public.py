"""Forms of the public pages: a resident registers a household from a phone, without an account.

The forms only parse what was typed; the rules (a family name, no birth date in the future,
known needs) are the service's, whose errors the view maps back onto these fields.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.core import japanese
from machi.shelters.models import CONSENT_ITEMS, Allergen, Need, Sex

# One household per registration; larger groups register in two parts.
MAX_MEMBERS = 10

CONSENT_LABELS = {
    "name": _("Full name"),
    "address": _("Address"),
    "birth_date": _("Date of birth"),
    "sex": _("Sex"),
    "whereabouts": _("Where you are staying"),
    "injury": _("Whether you are injured"),
}

# Languages most often needed at shelters in Japan, each named in itself (never translated,
# so that a person finds their own language whatever the page's language is).
LANGUAGES = [
    ("ja", "日本語"),
    ("en", "English"),
    ("zh-hans", "中文（简体）"),
    ("zh-hant", "中文（繁體）"),
    ("ko", "한국어"),
    ("vi", "Tiếng Việt"),
    ("pt", "Português"),
    ("es", "Español"),
    ("tl", "Filipino"),
    ("ne", "नेपाली"),
    ("id", "Bahasa Indonesia"),
    ("th", "ไทย"),
    ("my", "မြန်မာ"),
    ("ja-x-easy", "やさしい日本語"),
]

# Kana readings: hiragana, katakana, the long-vowel mark, spaces and dots between names.
# Latin letters too, for people whose name has no Japanese reading.
KANA = re.compile(r"^[\u3041-\u3096\u30a1-\u30fa\u30fc\u30fb A-Za-z'.-]*$")


class JapaneseDateField(forms.DateField):
    """A date typed as 1980-04-01, 1980/4/1 or 1980年4月1日, in full- or half-width digits."""

    input_formats = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y.%m.%d"]

    def to_python(self, value: Any) -> dt.date | None:
        if isinstance(value, str):
            value = japanese.normalize(value).replace(" ", "")
        return super().to_python(value)


def _text(label: Any, *, max_length: int, help_text: Any = "", **attrs: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs=attrs),
    )


class HouseholdForm(forms.Form):
    address = _text(
        _("Address"),
        max_length=256,
        help_text=_("Where you live, as far as you know it."),
        autocomplete="street-address",
    )
    phone = forms.CharField(
        label=_("Phone number"),
        max_length=32,
        required=False,
        help_text=_("A number we can reach you on, such as a mobile phone."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "inputmode": "tel"}),
    )
    pets = _text(
        _("Pets"),
        max_length=200,
        help_text=_("Pets with you or left at home, for example: one small dog."),
    )


class MemberForm(forms.Form):
    family_name = forms.CharField(
        label=_("Family name"),
        max_length=64,
        error_messages={"required": _("Enter the family name.")},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    given_name = _text(_("Given name"), max_length=64, autocomplete="off")
    family_name_kana = _text(
        _("Family name in kana"),
        max_length=64,
        help_text=_("In hiragana or katakana."),
        autocomplete="off",
    )
    given_name_kana = _text(
        _("Given name in kana"),
        max_length=64,
        help_text=_("In hiragana or katakana."),
        autocomplete="off",
    )
    birth_date = JapaneseDateField(
        label=_("Date of birth"),
        required=False,
        help_text=_("Year, month and day, for example 1980-04-01."),
        error_messages={
            "invalid": _("Enter the date of birth as year-month-day, e.g. 1980-04-01.")
        },
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "off"}, format="%Y-%m-%d"),
    )
    sex = forms.ChoiceField(
        label=_("Sex"), choices=Sex.choices, required=False, widget=forms.RadioSelect
    )
    needs = forms.MultipleChoiceField(
        label=_("Needs care or support"),
        choices=Need.choices,
        required=False,
        help_text=_("Check all that apply. Only the staff who need to know can see this."),
        widget=forms.CheckboxSelectMultiple,
    )
    allergies = forms.MultipleChoiceField(
        label=_("Food allergies"),
        choices=Allergen.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    needs_note = _text(
        _("Other needs, in your own words"),
        max_length=300,
        help_text=_("For example other allergies, or medicine you take."),
        autocomplete="off",
    )
    language = forms.ChoiceField(
        label=_("Language you are most comfortable in"),
        choices=[("", _("Not specified")), *LANGUAGES],
        required=False,
    )
    consent = forms.MultipleChoiceField(
        label=_("What the city may tell people asking after this person"),
        choices=[(item, CONSENT_LABELS[item]) for item in CONSENT_ITEMS],
        required=False,
        help_text=_(
            "If family or friends ask the city whether this person is safe, the city tells them "
            "only the items checked here. Leave everything unchecked and the city tells no one. "
            "This can be changed later at the shelter reception."
        ),
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, number: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.number = number  # 1 for the first person: for legends and the error summary
        if number == 1:
            # The first person is usually the one typing: let the browser offer their details.
            for name, token in (
                ("family_name", "family-name"),
                ("given_name", "given-name"),
                ("birth_date", "bday"),
            ):
                self.fields[name].widget.attrs["autocomplete"] = token

    def has_changed(self) -> bool:
        """Whether anything was typed in this block (not: whether it differs from its initial
        values). A block left blank is skipped, wherever it is; one typed in is checked."""
        return any(self[name].value() not in (None, "", [], ()) for name in self.fields)

    def _clean_kana(self, name: str) -> str:
        value: str = japanese.normalize(self.cleaned_data.get(name, ""))
        if not KANA.match(value):
            raise forms.ValidationError(
                _("Write the reading in hiragana or katakana."), code="kana"
            )
        return value

    def clean_family_name_kana(self) -> str:
        return self._clean_kana("family_name_kana")

    def clean_given_name_kana(self) -> str:
        return self._clean_kana("given_name_kana")


class BaseMemberFormSet(forms.BaseFormSet):
    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_form_kwargs(index)
        if index is not None:
            kwargs["number"] = index + 1
            # Every block but the first may be left blank (see MemberForm.has_changed).
            kwargs["empty_permitted"] = index > 0
        return kwargs


def member_formset(*, extra: int = 0) -> type[forms.BaseFormSet]:
    """The members of a household: at least one, at most MAX_MEMBERS.

    ``extra`` blank blocks follow the people already typed: "add another person" re-renders
    the form with one more, which is how several people are entered without JavaScript.
    """
    return forms.formset_factory(
        MemberForm,
        formset=BaseMemberFormSet,
        extra=extra,
        min_num=1,
        max_num=MAX_MEMBERS,
        absolute_max=MAX_MEMBERS,
        validate_max=True,
    )


def form_values(form: forms.Form) -> dict[str, Any]:
    """What was typed into a bound form, unvalidated: to show it again as initial values."""
    return {name: form[name].value() for name in form.fields}
