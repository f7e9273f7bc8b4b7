from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The captive portal of the free Wi-Fi and the RADIUS endpoints (its own models)."""

    default = True
    name = "machi.wifi.portal"
    label = "wifi_portal"
    verbose_name = _("Free Wi-Fi login (captive portal)")

    def ready(self) -> None:
        from machi.core import access, nav
        from machi.core.roles import Action, Role
        from machi.wifi.portal.models import AccountingSession, EmailRegistration, PortalSession

        # Residents' sessions: the Wi-Fi section and auditors read them (masked, audited);
        # nobody edits them by hand: logins, RADIUS and the retention purge do.
        readers = {Role.WIFI_ADMIN: {Action.READ}, Role.AUDITOR: {Action.READ}}
        for model in (PortalSession, EmailRegistration, AccountingSession):
            access.register(model, readers)
        nav.register(
            "wifi_portal:staff",
            _("Free Wi-Fi sessions"),
            resource="wifi_portal.portalsession",
            order=42,
        )
