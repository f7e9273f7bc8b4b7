"""Forms of the chronology pages: the filters, and the line staff type in."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.emergency.models import ChronologyEntry, ChronologyKind, Disaster

# The value of the disaster choice for lines recorded outside any disaster.
NO_DISASTER = "none"
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class ChronologyFilterForm(forms.Form):
    disaster = forms.ChoiceField(label=_("Disaster"), required=False)
    kind = forms.MultipleChoiceField(
        label=_("Kinds"),
        choices=ChronologyKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every kind."),
    )
    important = forms.BooleanField(label=_("Important entries only"), required=False)
    q = forms.CharField(label=_("Words"), required=False, max_length=100)
    since = forms.DateTimeField(
        label=_("From (date and time)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )
    until = forms.DateTimeField(
        label=_("Until (date and time)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )

    def __init__(self, *args: Any, disasters: Iterable[Disaster], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["disaster"])
        choices: list[tuple[str, str]] = []
        for disaster in disasters:
            label = f"{disaster.name} ({timezone.localtime(disaster.started_at):%Y-%m-%d})"
            if disaster.is_exercise:
                label += " " + str(_("exercise"))
            if not disaster.is_active:
                label += " " + str(_("ended"))
            choices.append((str(disaster.pk), label))
        choices.append((NO_DISASTER, str(_("No disaster (平常時)"))))
        field.choices = choices

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end is before the start."))
        return cleaned


TEXT_LIMIT = ChronologyEntry._meta.get_field("text").max_length or 1000


class ChronologyEntryForm(forms.Form):
    text = forms.CharField(
        label=_("What happened"),
        max_length=TEXT_LIMIT,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "One line of the chronology, at the time you add it. Entries cannot be changed or "
            "deleted afterwards: to correct one, add a new entry that says what was wrong."
        ),
    )
    important = forms.BooleanField(label=_("Important"), required=False)
    department = forms.CharField(
        label=_("Department"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"list": "chronology-departments", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The filters share the page (and their "important" box): keep the ids apart.
        kwargs.setdefault("auto_id", "id_entry_%s")
        super().__init__(*args, **kwargs)
