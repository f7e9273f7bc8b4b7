from django.contrib.admin.apps import AdminConfig


class MachiAdminConfig(AdminConfig):
    """Django admin whose sign-in goes through Machi's two-factor staff login."""

    default_site = "machi.core.admin_site.MachiAdminSite"
