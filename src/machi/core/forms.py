from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.core.models import record_type_label
from machi.core.personal import PERSONAL_RECORD_TYPES
from machi.core.roles import Action


class LoginForm(forms.Form):
    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class TotpForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code from your authenticator app"),
        max_length=16,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9 ]*",
                "size": 8,
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(ch for ch in self.cleaned_data["code"] if not ch.isspace())
        if not code.isdigit() or len(code) != 6:
            raise forms.ValidationError(_("Enter the 6 digits shown in your authenticator app."))
        return code


class AuditFilterForm(forms.Form):
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    action = forms.ChoiceField(
        label=_("Action"), required=False, choices=[("", _("All")), *Action.choices]
    )
    object_type = forms.ChoiceField(label=_("Record type"), required=False)
    object_id = forms.CharField(label=_("Record id"), required=False, max_length=64)
    ip_address = forms.GenericIPAddressField(label=_("IP address"), required=False)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, object_types: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["object_type"])
        labelled = sorted((record_type_label(name), name) for name in object_types)
        field.choices = [("", _("All")), *((name, label) for label, name in labelled)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end date is before the start date."))
        return cleaned


class ReadsReportForm(forms.Form):
    """The period and filters of the report of who read which personal records."""

    MAX_DAYS = 366

    since = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))
    actor = forms.CharField(label=_("Actor"), required=False, max_length=150)
    object_type = forms.ChoiceField(label=_("Record type"), required=False)
    object_id = forms.CharField(label=_("Record id"), required=False, max_length=64)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["object_type"])
        labelled = sorted((record_type_label(name), name) for name in PERSONAL_RECORD_TYPES)
        field.choices = [("", _("All personal records")), *((n, label) for label, n in labelled)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until:
            if since > until:
                self.add_error("until", _("The end date is before the start date."))
            elif (until - since).days >= self.MAX_DAYS:
                self.add_error(
                    "until", _("Choose a period of at most a year (366 days) for one report.")
                )
        return cleaned


@dataclass(frozen=True)
class SummaryError:
    """One line of an error summary (``core/_error_list.html``): a link to the field."""

    href: str
    text: str


def summary_anchor(field: forms.BoundField) -> str:
    """Where the error summary's link goes: the input, or the first box of a group."""
    if isinstance(field.field.widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
        return f"#{field.auto_id}_0"
    return f"#{field.id_for_label}"


def form_error_summary(form: forms.BaseForm, *, anchor: str = "#main") -> list[SummaryError]:
    """The errors of a form for the summary at the top, each linking to its field."""
    errors = [SummaryError(anchor, str(error)) for error in form.non_field_errors()]
    for field in form:
        errors += [
            SummaryError(
                summary_anchor(field),
                _("%(field)s: %(error)s") % {"field": field.label, "error": error},
            )
            for error in field.errors
        ]
    return errors
