"""Who may do what with the public Wi-Fi.

The Wi-Fi section (WIFI_ADMIN) runs the registry and the monitoring; HQ sees every AP and may
switch disaster mode ("wifi.disaster_mode", UPDATE); auditors read. Credentials and SSID keys
are never shown to anyone once saved.
"""

from machi.core import access
from machi.core.roles import Action, Role


def register() -> None:
    from machi.wifi.models import AccessPoint, ApSwitch, Site, SsidProfile, WifiAlert

    readers = {Role.HQ: {Action.READ}, Role.AUDITOR: {Action.READ}, Role.SYSADMIN: {Action.READ}}
    for model in (Site, AccessPoint, SsidProfile, WifiAlert, ApSwitch):
        access.register(model, {**readers, Role.WIFI_ADMIN: access.ALL_ACTIONS})
    access.register(
        "wifi.disaster_mode",
        {
            Role.HQ: {Action.READ, Action.UPDATE},
            Role.WIFI_ADMIN: {Action.READ, Action.UPDATE},
            Role.AUDITOR: {Action.READ},
        },
    )
    access.register(
        "wifi.usage",
        {Role.HQ: {Action.READ}, Role.WIFI_ADMIN: {Action.READ}, Role.AUDITOR: {Action.READ}},
    )
