"""Staff roles. A user holds any number of roles; shelter staff are scoped to facilities."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    HQ = "hq", _("Disaster headquarters")
    SHELTER_STAFF = "shelter_staff", _("Shelter staff")
    COUNTER = "counter", _("Counter staff")
    # Staff of any department sent out in a disaster: they report incidents and work on the
    # tasks HQ gives their department.
    FIELD = "field", _("Department staff (field)")
    WIFI_ADMIN = "wifi_admin", _("Wi-Fi administrator")
    # 被災者支援: the ledger of disaster victims, damage surveys, certificates and grants.
    RECOVERY = "recovery", _("Victim support staff")
    # 広報: writes, approves and sends the notifications residents subscribe to.
    PR = "pr", _("Public relations")
    # 情報政策・DX推進: publishes open data and reads the insights (figures, no personal data).
    DX = "dx", _("DX and open data")
    AUDITOR = "auditor", _("Auditor")
    SYSADMIN = "sysadmin", _("System administrator")


# Roles whose rights reach only the facilities listed on the assignment.
SCOPED_ROLES = frozenset({Role.SHELTER_STAFF})


class Action(models.TextChoices):
    READ = "read", _("read")
    CREATE = "create", _("create")
    UPDATE = "update", _("update")
    DELETE = "delete", _("delete")
    EXPORT = "export", _("export")
    LOGIN = "login", _("sign-in")
    LOGIN_FAILED = "login_failed", _("failed sign-in")
    LOGOUT = "logout", _("sign-out")
