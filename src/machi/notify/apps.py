from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotifyConfig(AppConfig):
    default = True
    name = "machi.notify"
    label = "notify"
    verbose_name = _("Resident notifications (広報・配信)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.notify import policies

        policies.register()
        nav.register(
            "notify_console:index", _("Notifications"), resource="notify.broadcast", order=40
        )
        nav.register_portal(
            "notify:subscribe",
            _("Disaster information by e-mail, push and LINE"),
            _("Evacuation information and the city's news for your area, delivered to you."),
            order=30,
        )
