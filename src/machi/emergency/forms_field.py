"""Forms of incident reports and tasks: they parse; the rules are in services_field."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from machi.core.models import Area
from machi.emergency import selectors_field, services_field
from machi.emergency.models import (
    IncidentCategory,
    IncidentSeverity,
    IncidentStatus,
)

PHOTO_ACCEPT = "image/jpeg,image/png,image/webp,image/heic,image/heif,.jpg,.jpeg,.png,.webp,.heic"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several photos under one name (Django's documented way: the field cleans each).

    Each is checked by the service's rule here too, so a wrong file is named together with
    the other mistakes of the form instead of after they are fixed.
    """

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        items = data if isinstance(data, list | tuple) else [data]
        files = [super(MultipleFileField, self).clean(item, initial) for item in items if item]
        errors = []
        for upload in files:
            try:
                services_field.photo_check(upload)
            except services_field.FieldError as exc:
                errors.append(forms.ValidationError(str(exc)))
        if errors:
            raise forms.ValidationError(errors)
        return files


def _photos_field(label: Any) -> MultipleFileField:
    return MultipleFileField(
        label=label,
        required=False,
        help_text=_("JPEG, PNG, WebP or HEIC, up to 10 MB each. You can choose several."),
        widget=MultipleFileInput(attrs={"accept": PHOTO_ACCEPT}),
    )


def _department_field(label: Any, *, required: bool = False) -> forms.ModelChoiceField[Any]:
    return forms.ModelChoiceField(
        label=label,
        queryset=selectors_field.departments_all(),
        required=required,
        empty_label="—",
    )


class IncidentReportForm(forms.Form):
    """What staff on a phone say they saw. ``id`` is made when the form is shown."""

    id = forms.UUIDField(widget=forms.HiddenInput)
    category = forms.ChoiceField(
        label=_("Category"), choices=[("", "—"), *IncidentCategory.choices]
    )
    severity = forms.TypedChoiceField(
        label=_("Severity"),
        choices=IncidentSeverity.choices,
        coerce=int,
        initial=IncidentSeverity.MEDIUM,
        widget=forms.RadioSelect,
    )
    title = forms.CharField(
        label=_("What happened (title)"),
        max_length=120,
        help_text=_("For example 道路冠水 50cm or 倒木で通行止め."),
    )
    description = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    address = forms.CharField(
        label=_("Address or landmark"),
        required=False,
        max_length=200,
        help_text=_("A street address, or a landmark such as a school or a bridge."),
    )
    latitude = forms.DecimalField(
        label=_("Latitude"),
        required=False,
        min_value=-90,
        max_value=90,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    longitude = forms.DecimalField(
        label=_("Longitude"),
        required=False,
        min_value=-180,
        max_value=180,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    area = forms.ModelChoiceField(
        label=_("Area (町丁目)"),
        queryset=Area.objects.order_by("name_kana", "name"),
        required=False,
        empty_label="—",
    )
    department = _department_field(_("Department to handle it"))
    photos = _photos_field(_("Photos"))

    def __init__(self, *args: Any, areas: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if areas is not None:
            self.fields["area"].queryset = areas  # type: ignore[attr-defined]
        if not self.is_bound:
            self.initial.setdefault("id", uuid.uuid4())


class PhotoAddForm(forms.Form):
    photos = _photos_field(_("Add photos"))


class AssignForm(forms.Form):
    department = _department_field(_("Department"))


class IncidentFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All")), *IncidentStatus.choices]
    )
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("All")), *IncidentCategory.choices]
    )
    severity = forms.TypedChoiceField(
        label=_("Severity"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("All")), *IncidentSeverity.choices],
    )
    department = forms.ModelChoiceField(
        label=_("Department"),
        queryset=selectors_field.departments_all(),
        required=False,
        empty_label=_("All"),
    )
    q = forms.CharField(label=_("Words"), required=False, max_length=100)

    def filters(self) -> selectors_field.IncidentFilter:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return selectors_field.IncidentFilter(
            status=data.get("status") or "",
            category=data.get("category") or "",
            severity=data.get("severity"),
            department=data.get("department"),
            q=data.get("q") or "",
        )


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=120)
    description = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    to_department = _department_field(_("Department asked to do it"), required=True)
    assignee = forms.ModelChoiceField(
        label=_("Person in charge"),
        queryset=selectors_field.department_members(),
        required=False,
        empty_label="—",
        help_text=_("Optional: a member of that department."),
    )
    due_at = forms.DateTimeField(
        label=_("Due"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text=_("Japan time."),
    )
    incident = forms.UUIDField(required=False, widget=forms.HiddenInput)


class TaskFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), *selectors_field.TASK_STATUS_LABELS.items()],
    )
    department = forms.ModelChoiceField(
        label=_("Department"),
        queryset=selectors_field.departments_all(),
        required=False,
        empty_label=_("All"),
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)

    def filters(self) -> selectors_field.TaskFilter:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return selectors_field.TaskFilter(
            status=data.get("status") or "",
            department=data.get("department"),
            overdue=bool(data.get("overdue")),
        )
