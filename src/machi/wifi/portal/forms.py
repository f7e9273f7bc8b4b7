"""Forms of the captive portal: only parsing; the rules are the services'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.wifi.portal.identity import normalise_address


class AddressField(forms.EmailField):
    """An e-mail address, NFKC-normalised before it is checked: "ｔａｒｏ＠example.jp" typed
    with a Japanese keyboard is the same address as "taro@example.jp"."""

    def to_python(self, value: Any) -> str:
        return normalise_address(str(super().to_python(value)))


class RegisterForm(forms.Form):
    """The address the confirmation link goes to. Pressing the button agrees to the terms shown
    above it (the button says so)."""

    email = AddressField(
        label=_("E-mail address"),
        max_length=254,
        help_text=_(
            "We send a link to this address. You can use the Wi-Fi for 10 minutes to open it."
        ),
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "autocapitalize": "none"}
        ),
    )
