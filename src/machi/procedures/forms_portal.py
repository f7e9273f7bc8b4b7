"""Residents' forms: a procedure's fields (data) become a Django form, a page at a time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from machi.procedures.models import Procedure
from machi.procedures.services import DELIVERY_LABELS


def _english() -> bool:
    return (get_language() or "ja").startswith("en")


def label_of(item: Mapping[str, Any]) -> str:
    return str(item.get("label_en") or item["label"]) if _english() else str(item["label"])


def pages(procedure: Procedure) -> list[list[dict[str, Any]]]:
    """The form's fields, a page each, or grouped by their ``page`` key (one topic per page)."""
    grouped: list[list[dict[str, Any]]] = []
    last: object = object()
    for item in procedure.form:
        page = item.get("page")
        if page is not None and page == last and grouped:
            grouped[-1].append(item)
        else:
            grouped.append([item])
        last = page
    return grouped


def _field(item: Mapping[str, Any]) -> forms.Field:
    kind = item.get("type", "text")
    label = label_of(item)
    required = (
        _("Choose “%(label)s”.") if kind in {"choice", "checkbox"} else _("Enter “%(label)s”.")
    ) % {"label": label}
    common: dict[str, Any] = {
        "label": label,
        "error_messages": {"required": required},
        "required": bool(item.get("required")),
        "help_text": str(item.get("help_en") or item.get("help", ""))
        if _english()
        else str(item.get("help", "")),
    }
    if kind == "textarea":
        return forms.CharField(
            max_length=int(item.get("max_length", 2000)),
            widget=forms.Textarea(attrs={"rows": 5}),
            **common,
        )
    if kind == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == "number":
        return forms.IntegerField(
            min_value=item.get("min"),
            max_value=item.get("max"),
            widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            **common,
        )
    if kind == "choice":
        choices = [
            (c["value"], c.get("label_en") or c.get("label", c["value"]))
            if _english()
            else (c["value"], c.get("label", c["value"]))
            for c in item["choices"]
            if isinstance(c, dict)
        ] or [(c, c) for c in item["choices"]]
        return forms.ChoiceField(choices=choices, widget=forms.RadioSelect, **common)
    if kind == "checkbox":
        return forms.BooleanField(**common)
    return forms.CharField(max_length=int(item.get("max_length", 200)), **common)


class PageForm(forms.Form):
    """One page of a procedure's form; ``answers()`` gives its values as the form data holds
    them (dates as ISO text)."""

    def __init__(self, *args: Any, items: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for item in items:
            self.fields[item["name"]] = _field(item)

    def answers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if isinstance(value, dt.date):
                value = value.isoformat()
            out[name] = value
        return out


class EmailForm(forms.Form):
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("The 6-digit code in the mail"),
        max_length=12,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "size": 8}
        ),
    )


class DeliveryForm(forms.Form):
    """How the result reaches the resident, where, and how the fee is paid."""

    delivery = forms.ChoiceField(label=_("How you receive it"), widget=forms.RadioSelect)
    address = forms.CharField(
        label=_("Your registered address (住所)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
        help_text=_("Certificates are mailed only to the address in the resident register."),
    )
    email = forms.EmailField(
        label=_("E-mail address for news about this application"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_("Optional. We write when the status changes."),
    )
    payment = forms.ChoiceField(label=_("How you pay the fee"), widget=forms.RadioSelect)

    def __init__(
        self,
        *args: Any,
        procedure: Procedure,
        providers: list[tuple[str, str]],
        ask_address: bool,
        ask_email: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.procedure = procedure
        delivery = cast(forms.ChoiceField, self.fields["delivery"])
        delivery.choices = [(d, DELIVERY_LABELS.get(d, d)) for d in procedure.deliveries]
        if len(procedure.deliveries) == 1:  # nothing to choose: not asked
            delivery.widget = forms.HiddenInput()
            delivery.initial = procedure.deliveries[0]
        if providers:
            payment = cast(forms.ChoiceField, self.fields["payment"])
            payment.choices = providers
        else:
            del self.fields["payment"]
        self.ask_address = ask_address
        if not ask_address:
            del self.fields["address"]
        if not ask_email:
            del self.fields["email"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.ask_address and cleaned.get("delivery") == "mail" and not cleaned.get("address"):
            self.add_error("address", _("Needed to mail it to you."))
        payment, delivery = cleaned.get("payment"), cleaned.get("delivery")
        if payment and delivery:
            from machi.procedures.payments import base as payments_base

            # Paying at the counter needs collecting there: the providers decide what fits.
            fits = {p.name for p in payments_base.providers_for(self.procedure, delivery=delivery)}
            if payment not in fits:
                self.add_error(
                    "payment",
                    _("This way of paying does not fit how you receive it. Choose another."),
                )
        return cleaned


class SignatureForm(forms.Form):
    signature = forms.FileField(
        label=_("The signature file (.p7s) made by the signing app"),
        help_text=_("Sign the file “application.json” above with your My Number card."),
    )

    def __init__(self, *args: Any, jpki: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not jpki:
            del self.fields["signature"]
