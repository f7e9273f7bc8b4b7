"""The catalogue in the back office: administrators edit procedures (their form as JSON, checked
field by field before it is saved)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from machi.core.admin import AuditedAdminMixin
from machi.procedures import services
from machi.procedures.models import Procedure


class ProcedureForm(forms.ModelForm):
    class Meta:
        model = Procedure
        fields = (
            "slug",
            "name",
            "name_en",
            "description",
            "department",
            "identity_level",
            "fee_yen",
            "deliveries",
            "target_days",
            "form",
            "handler",
            "active",
            "position",
        )
        help_texts = {
            "form": _(
                'A list of fields: {"name", "label", "label_en", "type" (text, textarea, date, '
                'number, choice, checkbox), "required", "max_length", "min", "max", "choices", '
                '"help", "page"}.'
            ),
            "deliveries": _('Any of "mail", "counter", "electronic", e.g. ["mail", "counter"].'),
            "handler": _('"recovery.certificate" hands 罹災証明書 applications to victim support.'),
        }

    def clean_form(self) -> Any:
        try:
            return services.form_check(self.cleaned_data.get("form"))
        except services.ProcedureError as exc:
            raise forms.ValidationError(f"{exc.field}: {exc}") from exc

    def clean_deliveries(self) -> Any:
        value = self.cleaned_data.get("deliveries")
        if (
            not isinstance(value, list)
            or not value
            or any(item not in services.DELIVERIES for item in value)
        ):
            raise forms.ValidationError(
                _("A list of one or more of: %(choices)s.")
                % {"choices": ", ".join(services.DELIVERIES)}
            )
        return value


@admin.register(Procedure)
class ProcedureAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = ProcedureForm
    list_display = (
        "name",
        "slug",
        "department",
        "identity_level",
        "fee_yen",
        "target_days",
        "active",
        "position",
    )
    list_editable = ("active", "position")
    list_filter = ("department", "identity_level", "active")
    search_fields = ("name", "name_en", "slug")

    def save_model(self, request: Any, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.offered_forget()  # this process sees the change at once (others: 10 s)

    def delete_model(self, request: Any, obj: Any) -> None:
        super().delete_model(request, obj)
        services.offered_forget()

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        super().delete_queryset(request, queryset)
        services.offered_forget()
