from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.core.hazards import Hazard
from machi.core.models import Area


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
