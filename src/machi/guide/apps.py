from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GuideConfig(AppConfig):
    """The guide room (総合案内): FAQ knowledge base, Japanese search, chat."""

    default = True
    name = "machi.guide"
    label = "guide"
    verbose_name = _("Guidance (総合案内)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.guide import policies

        policies.register()
        nav.register("guide:entries", _("FAQ"), resource="guide.entry", order=48)
