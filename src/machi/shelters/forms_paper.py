"""Forms of the paper fallback: how many blanks to print, which card to type in, and the card.

The forms parse what is written on the card; the rules (times, names, needs) are the paper
module's and the services', whose errors the view puts back on these fields.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from machi.core import japanese
from machi.emergency.models import Disaster
from machi.shelters import paper
from machi.shelters.forms_public import KANA, BaseMemberFormSet, JapaneseDateField
from machi.shelters.models import CONSENT_ITEMS, Allergen, Need, Sex

MAX_CARDS = 100  # one print run (a few seconds): a ream of paper, not the city's stock
MAX_ROSTER_PAGES = 50
GRID = "filter-grid"  # the console's grid of columns: choices side by side, as on the card


class CardsPrintForm(forms.Form):
    count = forms.IntegerField(
        label=_("Number of blank cards"),
        min_value=1,
        max_value=MAX_CARDS,
        initial=20,
        help_text=_("One A4 page per household. Each card has its own number: do not photocopy."),
    )


class RosterPrintForm(forms.Form):
    pages = forms.IntegerField(
        label=_("Number of roster pages"),
        min_value=1,
        max_value=MAX_ROSTER_PAGES,
        initial=5,
        help_text=_("A4 landscape, 15 rows a page."),
    )


class CardLookupForm(forms.Form):
    """A QR scanner acting as a keyboard types the card's UUID; staff type the short number."""

    card = forms.CharField(
        label=_("Card number (scan the QR code or type the number)"),
        max_length=80,
        error_messages={"required": _("Scan the card's QR code or type its number.")},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )

    def clean_card(self) -> paper.CardId:
        card = paper.CardId.parse(self.cleaned_data["card"])
        if card is None:
            raise forms.ValidationError(
                _(
                    "This is not the number of a Machi card: check each letter and digit "
                    "(e.g. 7K2M-Q9TD-RXQ)."
                ),
                code="card",
            )
        return card


WAREKI = re.compile(
    r"^(明治|大正|昭和|平成|令和|[MTSHR])(元|\d{1,2})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$"
)
ERA_START = {name: start.year for start, name, _letter in japanese.ERAS} | {
    letter: start.year for start, _name, letter in japanese.ERAS
}


class BirthDateField(JapaneseDateField):
    """A date of birth as written on the card: 1980-04-01, 1980/4/1, 昭和55年4月1日, S55.4.1."""

    def to_python(self, value: Any) -> dt.date | None:
        if isinstance(value, str):
            text = japanese.normalize(value).replace(" ", "").upper()
            match = WAREKI.match(text)
            if match:
                era, year, month, day = match.groups()
                first = ERA_START[era]
                try:
                    return dt.date(
                        first + (1 if year == "元" else int(year)) - 1, int(month), int(day)
                    )
                except ValueError:
                    raise forms.ValidationError(
                        self.error_messages["invalid"], code="invalid"
                    ) from None
        return super().to_python(value)


class WrittenTimeField(forms.DateTimeField):
    """A date and time written by hand, typed in as the browser's date-time field sends it, or
    as 2024/10/12 18:30, 2024年10月12日18時30分, in full- or half-width digits."""

    input_formats = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M",
        "%Y年%m月%d日%H時%M分",
        "%Y年%m月%d日 %H時%M分",
        "%Y年%m月%d日%H:%M",
    ]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        )
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> dt.datetime | None:
        if isinstance(value, str):
            value = japanese.normalize(value)
        return super().to_python(value)


CONSENT_LABELS = {
    "name": _("Name"),
    "address": _("Address"),
    "birth_date": _("Date of birth"),
    "sex": _("Sex"),
    "whereabouts": _("Whereabouts"),
    "injury": _("Injury"),
}


def _numbered(choices: Any, numbers: dict[Any, int]) -> list[tuple[str, Any]]:
    """The choices with the number the card prints beside each, so a circled 7 is found."""
    return [(value, format_lazy("{} {}", numbers[value], label)) for value, label in choices]


class PaperCardForm(forms.Form):
    """The household part of a card: the written times, where they live, what may be told."""

    checked_in_at = WrittenTimeField(
        label=_("Checked in (入所日時), as written on the card"),
        help_text=_("The date and time written on the card, not now."),
        error_messages={
            "required": _("Enter the check-in date and time written on the card."),
            "invalid": _("Enter the date and time as year-month-day hour:minute."),
        },
    )
    checked_out_at = WrittenTimeField(
        label=_("Checked out (退所日時), if written on the card"),
        required=False,
        error_messages={"invalid": _("Enter the date and time as year-month-day hour:minute.")},
    )
    address = forms.CharField(label=_("Address"), max_length=256, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=32, required=False)
    pets = forms.CharField(label=_("Pets with them"), max_length=200, required=False)
    consent = forms.MultipleChoiceField(
        label=_("安否 inquiries: the items circled on the card"),
        choices=[(item, CONSENT_LABELS[item]) for item in CONSENT_ITEMS],
        required=False,
        help_text=_("For everyone on the card. Nothing circled: nothing is told."),
        widget=forms.CheckboxSelectMultiple(attrs={"class": GRID}),
    )

    def __init__(self, *args: Any, disaster: Disaster, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disaster = disaster  # the times are checked against its start

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        problems = paper.times_problems(
            disaster=self.disaster,
            checked_in_at=cleaned.get("checked_in_at"),
            checked_out_at=cleaned.get("checked_out_at"),
        )
        for name, message in problems.items():
            self.add_error(name, message)
        return cleaned


class PaperMemberForm(forms.Form):
    """One row of the card's family table."""

    family_name = forms.CharField(
        label=_("Family name"),
        max_length=64,
        error_messages={"required": _("Enter the family name written on the card.")},
    )
    given_name = forms.CharField(label=_("Given name"), max_length=64, required=False)
    family_name_kana = forms.CharField(label=_("Family name (kana)"), max_length=64, required=False)
    given_name_kana = forms.CharField(label=_("Given name (kana)"), max_length=64, required=False)
    birth_date = BirthDateField(
        label=_("Date of birth"),
        required=False,
        help_text=_("As written: 1980-04-01, or in the Japanese era: S55.4.1, 昭和55年4月1日."),
        error_messages={
            "invalid": _("Enter the date of birth as year-month-day, e.g. 1980-04-01 or S55.4.1.")
        },
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 12}),
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=[("", "—"), *Sex.choices], required=False)
    needs = forms.MultipleChoiceField(
        label=_("Needs (要配慮): the numbers circled"),
        choices=_numbered(Need.choices, paper.NEED_NUMBERS),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": GRID}),
    )
    allergies = forms.MultipleChoiceField(
        label=_("Allergies circled"),
        choices=Allergen.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": GRID}),
    )
    needs_note = forms.CharField(
        label=_("Needs, in words (for this person)"),
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, number: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.number = number  # the row of the card: 1 is the representative

    def has_changed(self) -> bool:
        """Whether anything was typed in this row: a row left blank is skipped."""
        return any(self[name].value() not in (None, "", [], ()) for name in self.fields)

    def _clean_kana(self, name: str) -> str:
        value: str = japanese.normalize(self.cleaned_data.get(name, ""))
        if not KANA.match(value):
            raise forms.ValidationError(_("Type the reading in hiragana or katakana."), code="kana")
        return value

    def clean_family_name_kana(self) -> str:
        return self._clean_kana("family_name_kana")

    def clean_given_name_kana(self) -> str:
        return self._clean_kana("given_name_kana")


def member_formset() -> type[forms.BaseFormSet[PaperMemberForm]]:
    """The card's rows: the first is required, the others are skipped when left blank."""
    return forms.formset_factory(
        PaperMemberForm,
        formset=BaseMemberFormSet,
        extra=paper.CARD_ROWS - 1,
        min_num=1,
        max_num=paper.CARD_ROWS,
        absolute_max=paper.CARD_ROWS,
        validate_max=True,
    )
