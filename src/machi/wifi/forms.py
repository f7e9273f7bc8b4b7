"""Forms of the Wi-Fi console. They parse and label; the rules are in services and
disaster_mode (their errors are put back on the fields they name)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from machi.core.models import Facility
from machi.wifi import selectors
from machi.wifi.models import AccessPoint, Driver, Encryption, ProfileKind, Site, SsidProfile


class SiteForm(forms.Form):
    facility = forms.ModelChoiceField(
        label=_("Facility"),
        queryset=Facility.objects.none(),
        help_text=_("Each facility is one site; its access points are added to it."),
    )
    disaster_target = forms.BooleanField(
        label=_("Switch to 00000JAPAN in disaster mode"),
        required=False,
        initial=True,
        help_text=_("Shelters usually are. The disaster-mode page selects these sites first."),
    )
    provides_area = forms.CharField(
        label=_("Coverage (提供エリア)"),
        max_length=200,
        required=False,
        help_text=_("Where people get a signal, e.g. 体育館・1階ロビー."),
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)

    def __init__(self, *args: Any, site: Site | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if site is None:
            self.fields["facility"].queryset = selectors.facilities_without_site()  # type: ignore[attr-defined]
        else:
            del self.fields["facility"]


class ProfileForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)
    kind = forms.ChoiceField(label=_("Kind"), choices=ProfileKind.choices)
    ssid = forms.CharField(
        label=_("SSID"),
        max_length=32,
        help_text=_("At most 32 bytes. The disaster profile is always 00000JAPAN."),
    )
    encryption = forms.ChoiceField(label=_("Encryption"), choices=Encryption.choices)
    key = forms.CharField(
        label=_("Passphrase"),
        required=False,
        max_length=64,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("8 to 63 characters. Never shown again once saved."),
    )
    clear_key = forms.BooleanField(label=_("Remove the stored passphrase"), required=False)
    hidden = forms.BooleanField(label=_("Hidden SSID"), required=False)
    isolate = forms.BooleanField(
        label=_("Client isolation"),
        required=False,
        initial=True,
        help_text=_("Devices on this SSID cannot reach each other."),
    )
    max_clients = forms.IntegerField(
        label=_("Clients per access point at most"),
        required=False,
        min_value=1,
        max_value=2007,  # hostapd's limit on associated stations
    )
    owe_companion = forms.BooleanField(
        label=_("Add an OWE (Enhanced Open) companion"),
        required=False,
        help_text=_("Disaster profile only. An encrypted twin for devices that support it."),
    )

    def __init__(self, *args: Any, profile: SsidProfile | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        key_state = _("set") if profile is not None and profile.key_encrypted else _("not set")
        self.fields["key"].help_text = _(
            "8 to 63 characters. Never shown again once saved. Now: %(state)s. "
            "Leave empty to keep it."
        ) % {"state": key_state}
        if profile is not None:
            self.fields["kind"].disabled = True  # a profile's kind never changes
        else:
            del self.fields["clear_key"]


class ApForm(forms.Form):
    site = forms.ModelChoiceField(label=_("Site"), queryset=Site.objects.none())
    name = forms.CharField(label=_("Name"), max_length=64, help_text=_("e.g. 体育館-1"))
    mac = forms.CharField(
        label=_("MAC address"), max_length=32, help_text=_("e.g. 00:11:22:AA:BB:CC")
    )
    model = forms.CharField(label=_("Model"), max_length=64, required=False)
    driver = forms.ChoiceField(label=_("Driver"), choices=Driver.choices)
    management_url = forms.CharField(
        label=_("Management address"),
        max_length=200,
        help_text=_("http(s)://host/ubus for OpenWrt; udp://host:161 for SNMP."),
    )
    username = forms.CharField(label=_("User name"), max_length=64, required=False)
    secret = forms.CharField(
        label=_("Password or SNMP community"),
        required=False,
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    profiles = forms.ModelMultipleChoiceField(
        label=_("SSIDs in normal times"),
        queryset=SsidProfile.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("00000JAPAN is not listed: disaster mode switches it on."),
    )
    enabled = forms.BooleanField(
        label=_("Managed by Machi"),
        required=False,
        initial=True,
        help_text=_("Unmanaged APs are skipped by disaster mode."),
    )

    def __init__(self, *args: Any, ap: AccessPoint | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = Site.objects.select_related("facility")  # type: ignore[attr-defined]
        self.fields["profiles"].queryset = selectors.normal_profiles()  # type: ignore[attr-defined]
        state = _("set") if ap is not None and ap.secret_encrypted else _("not set")
        self.fields["secret"].help_text = _(
            "Stored encrypted and never shown again. Now: %(state)s. Leave empty to keep it."
        ) % {"state": state}


class DisasterModeForm(forms.Form):
    """Switching ON: which sites, and whether this is a drill (訓練)."""

    sites = forms.ModelMultipleChoiceField(
        label=_("Sites"),
        queryset=Site.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The sites marked for disaster mode are chosen first."),
        error_messages={"required": _("Choose at least one site.")},
    )
    drill = forms.BooleanField(
        label=_("Drill (訓練)"),
        required=False,
        help_text=_(
            "Required when no disaster is declared: 00000JAPAN is never broadcast in normal "
            "times except in a drill, which is recorded as such."
        ),
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sites"].queryset = Site.objects.select_related("facility").order_by(  # type: ignore[attr-defined]
            "facility__name_kana", "facility__name"
        )


class RestoreForm(forms.Form):
    """Switching OFF: the APs of these sites (every AP not in normal mode when none chosen)."""

    sites = forms.ModelMultipleChoiceField(
        label=_("Sites"),
        queryset=Site.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave empty to restore every access point not in normal mode."),
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sites"].queryset = selectors.sites_to_restore().order_by(  # type: ignore[attr-defined]
            "facility__name_kana", "facility__name"
        )
