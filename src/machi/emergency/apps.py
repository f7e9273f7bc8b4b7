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
        nav.register(
            "emergency:evacuation",
            _("Evacuation information"),
            resource="emergency.evacuationorder",
            order=12,
        )
        nav.register(
            "chronology:timeline",
            _("Chronology"),
            resource="emergency.chronologyentry",
            order=14,
        )
        nav.register("field:incidents", _("Incidents"), resource="emergency.incident", order=16)
        nav.register(
            "weather:index", _("Weather and alerts"), resource="emergency.jmawarning", order=18
        )
        nav.register("field:tasks", _("Tasks"), resource="emergency.task", order=17)
        nav.register_portal(
            "emergency_public:evacuation",
            _("Evacuation information"),
            _("避難情報 in force in your area: level, hazard and what to do."),
            order=5,
        )
