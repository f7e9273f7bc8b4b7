from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmergencyConfig(AppConfig):
    default = True
    name = "machi.emergency"
    label = "emergency"
    verbose_name = _("Disaster headquarters (災害対策本部)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.emergency import policies

        policies.register()
        nav.register("emergency:disasters", _("Disasters"), resource="emergency.disaster", order=10)
