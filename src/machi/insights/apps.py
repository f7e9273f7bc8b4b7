from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightsConfig(AppConfig):
    """The insights room (DX推進): what the other rooms' records say about the value delivered
    to residents (time and cost saved, service out of hours) and to staff. Read-only."""

    default = True
    name = "machi.insights"
    label = "insights"
    verbose_name = _("Insights (DX推進)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.insights import policies

        policies.register()
        nav.register("insights:index", _("Insights"), resource="insights.figure", order=72)
