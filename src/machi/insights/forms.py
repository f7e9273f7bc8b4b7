"""Forms of the insights room: the period of the figures, and the assumptions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.insights.models import Setting
from machi.insights.period import MAX_DAYS, Period, default_period, fiscal_year_start


class PeriodForm(forms.Form):
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD`` (both days included); this fiscal year to date when
    neither is given. The fields are named ``from`` and ``to`` (``from`` is a Python keyword,
    so they are added here rather than declared)."""

    def __init__(self, data: Any = None, *, today: dt.date | None = None) -> None:
        default = default_period(today)
        if data is None or ("from" not in data and "to" not in data):
            # Nothing asked: the default period, shown in the fields like one asked for.
            data = {"from": default.start.isoformat(), "to": default.end.isoformat()}
        super().__init__(data)
        self.default = default
        for name, label in (("from", _("From")), ("to", _("To"))):
            self.fields[name] = forms.DateField(
                label=label,
                required=False,
                input_formats=["%Y-%m-%d", "%Y/%m/%d"],
                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                error_messages={"invalid": _("Enter a date like 2026-04-01.")},
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("from"), cleaned.get("to")
        if self.errors:
            return cleaned
        end = end or self.default.end
        start = start or fiscal_year_start(end)  # only an end: its fiscal year up to it
        if end < start:
            self.add_error("to", _("The end date is before the start date."))
        elif (end - start).days + 1 > MAX_DAYS:
            self.add_error("to", _("The period can be ten years at most."))
        else:
            cleaned["period"] = Period(start, end)
        return cleaned

    @property
    def period(self) -> Period:
        """The period asked for (the default when nothing was asked); call after is_valid()."""
        return self.cleaned_data["period"]


class SettingForm(forms.ModelForm):
    class Meta:
        model = Setting
        fields = [
            "value_per_hour_yen",
            "travel_cost_yen",
            "phone_enquiry_minutes",
            "travel_minutes",
            "waiting_minutes",
            "counter_staff_minutes",
            "online_staff_minutes",
        ]
        help_texts = {
            "value_per_hour_yen": _(
                "An assumption. The default, 1,121 yen, is the national weighted average of "
                "the regional minimum wages for FY2025 (Ministry of Health, Labour and Welfare)."
            ),
            "travel_cost_yen": _("Bus or train fare of a round trip; 0 leaves it out."),
            "travel_minutes": _("Used for every procedure that has no minutes of its own."),
        }


class ProcedureMinutesForm(forms.Form):
    procedure = forms.IntegerField(widget=forms.HiddenInput)
    travel_minutes = forms.IntegerField(label=_("Round trip (min)"), min_value=0, max_value=1440)
    waiting_minutes = forms.IntegerField(label=_("Waiting (min)"), min_value=0, max_value=1440)
    counter_staff_minutes = forms.IntegerField(
        label=_("Staff, at the counter (min)"), min_value=0, max_value=1440
    )
    online_staff_minutes = forms.IntegerField(
        label=_("Staff, online (min)"), min_value=0, max_value=1440
    )


ProcedureMinutesFormSet = forms.formset_factory(ProcedureMinutesForm, extra=0)
