from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpendataConfig(AppConfig):
    """The open data room (オープンデータ): the catalogue, the standard datasets generated from
    the other rooms' live records, their validation, the CKAN-compatible API and DCAT."""

    default = True
    name = "machi.opendata"
    label = "opendata"
    verbose_name = _("Open data (オープンデータ)")

    def ready(self) -> None:
        from machi.core import nav
        from machi.opendata import policies

        policies.register()
        nav.register("opendata:index", _("Open data"), resource="opendata.dataset", order=70)
        nav.register_portal(
            "opendata_public:catalogue",
            _("Open data"),
            _("The city's datasets: shelters, public Wi-Fi, facilities and more, free to reuse."),
            order=90,
        )
