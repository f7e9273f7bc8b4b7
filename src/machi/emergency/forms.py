from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.core.hazards import Hazard
from machi.core.models import Area
from machi.emergency.models import EvacuationLevel, EvacuationOrder


class DeclareForm(forms.Form):
    name = forms.CharField(
        label=_("Name of the disaster"),
        max_length=128,
        help_text=_("For example 令和元年東日本台風 or 大雨（10月12日）."),
    )
    hazards = forms.MultipleChoiceField(
        label=_("Hazards"), choices=Hazard.choices, widget=forms.CheckboxSelectMultiple
    )
    areas = forms.ModelMultipleChoiceField(
        label=_("Affected areas"),
        queryset=Area.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty for the whole city."),
    )
    started_at = forms.DateTimeField(
        label=_("Start time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Leave empty for now."),
    )
    is_exercise = forms.BooleanField(label=_("This is an exercise (訓練)"), required=False)


class EvacuationForm(forms.Form):
    level = forms.TypedChoiceField(
        label=_("Level"),
        choices=EvacuationLevel.choices,
        coerce=int,
        widget=forms.RadioSelect,
    )
    hazard = forms.ChoiceField(label=_("Hazard"), choices=Hazard.choices)
    whole_city = forms.BooleanField(label=_("The whole city"), required=False)
    areas = forms.ModelMultipleChoiceField(
        label=_("Areas"),
        queryset=Area.objects.order_by("name_kana", "name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("An area keeps one evacuation information per hazard: a new one replaces it."),
    )
    note = forms.CharField(
        label=_("Note"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Shown with the alert, e.g. the river and the reason."),
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if not data.get("whole_city") and not data.get("areas"):
            self.add_error("areas", _("Choose the areas, or the whole city."))
        return data


class LiftForm(forms.Form):
    areas = forms.ModelMultipleChoiceField(
        label=_("Areas to lift"),
        queryset=Area.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked to lift it everywhere."),
    )

    def __init__(self, *args: object, order: EvacuationOrder, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["areas"].queryset = order.areas.order_by("name_kana", "name")  # type: ignore[attr-defined]
