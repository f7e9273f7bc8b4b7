"""Public Wi-Fi (公衆無線LAN): sites, access points, SSID profiles, monitoring, disaster mode."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from machi.core.models import Facility, Job

# The unified disaster SSID (無線LANビジネス推進連絡会 guideline v4.2): open, never broadcast in
# normal times.
DISASTER_SSID = "00000JAPAN"


class Site(models.Model):
    """A facility with public Wi-Fi (a school gymnasium, a community centre, the city office)."""

    facility = models.OneToOneField(Facility, on_delete=models.PROTECT, related_name="wifi_site")
    # Shelters are the default targets of disaster mode; a city may add or remove sites.
    disaster_target = models.BooleanField(_("switch in disaster mode"), default=True)
    provides_area = models.CharField(_("coverage (提供エリア)"), max_length=200, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("Wi-Fi site")
        verbose_name_plural = _("Wi-Fi sites")
        ordering = ["facility__name"]

    def __str__(self) -> str:
        return str(self.facility)


class ProfileKind(models.TextChoices):
    STAFF = "staff", _("Staff (encrypted)")
    FREE = "free", _("Free Wi-Fi (web login)")
    DISASTER = "disaster", _("Disaster (00000JAPAN)")


class Encryption(models.TextChoices):
    """UCI ``wifi-iface`` ``encryption`` values Machi writes."""

    NONE = "none", _("None (open)")
    OWE = "owe", _("OWE (Enhanced Open)")
    PSK2 = "psk2", _("WPA2-Personal")
    SAE = "sae", _("WPA3-Personal")
    SAE_MIXED = "sae-mixed", _("WPA2/WPA3-Personal")
    WPA2 = "wpa2", _("WPA2-Enterprise")
    WPA3 = "wpa3", _("WPA3-Enterprise")


class SsidProfile(models.Model):
    """One SSID as APs broadcast it; an AP broadcasts its normal profiles, or the disaster one."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=ProfileKind.choices)
    ssid = models.CharField(_("SSID"), max_length=32)
    encryption = models.CharField(
        _("encryption"), max_length=16, choices=Encryption.choices, default=Encryption.NONE
    )
    key_encrypted = models.TextField(blank=True)  # core.crypto; never shown back
    hidden = models.BooleanField(_("hidden"), default=False)
    isolate = models.BooleanField(_("client isolation"), default=True)
    max_clients = models.PositiveSmallIntegerField(
        _("clients per AP at most"), null=True, blank=True
    )
    # 00000JAPAN only: an OWE twin (hidden, paired by owe_transition_ifname). Off by default: an
    # official encrypted variant could not be confirmed.
    owe_companion = models.BooleanField(_("OWE companion"), default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("SSID profile")
        verbose_name_plural = _("SSID profiles")
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="disaster") | models.Q(encryption__in=["none", "owe"]),
                name="ssid_disaster_is_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ssid})"


class Driver(models.TextChoices):
    OPENWRT = "openwrt", _("OpenWrt (ubus JSON-RPC)")
    SNMP = "snmp", _("SNMP (monitoring only)")


class Health(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    OK = "ok", _("OK")
    PROBLEM = "problem", _("Problem")
    CRITICAL = "critical", _("Critical")


class Mode(models.TextChoices):
    NORMAL = "normal", _("Normal")
    DISASTER = "disaster", _("Disaster (00000JAPAN)")
    DRILL = "drill", _("Drill (訓練)")


class ConfigStatus(models.TextChoices):
    APPLIED = "applied", _("Applied (confirmed)")
    PENDING = "pending", _("Being applied")
    ERROR = "error", _("Not applied")


class AccessPoint(models.Model):
    """An access point: how to reach it, what it should broadcast, and how it is doing."""

    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="access_points")
    name = models.CharField(_("name"), max_length=64)
    mac = models.CharField(_("MAC address"), max_length=17, unique=True)
    model = models.CharField(_("model"), max_length=64, blank=True)
    management_url = models.CharField(
        _("management address"),
        max_length=200,
        help_text=_("http(s)://host/ubus for OpenWrt; udp://host:161 for SNMP."),
    )
    driver = models.CharField(_("driver"), max_length=16, choices=Driver.choices)
    username = models.CharField(_("user name"), max_length=64, blank=True)
    secret_encrypted = models.TextField(blank=True)  # password or SNMP community (core.crypto)
    # The AP pushes NetJSON monitoring with this key (only its SHA-256 is kept).
    monitoring_key_digest = models.CharField(max_length=64, blank=True, db_index=True)
    profiles = models.ManyToManyField(SsidProfile, blank=True, related_name="access_points")
    enabled = models.BooleanField(_("managed"), default=True)

    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.NORMAL)
    config_status = models.CharField(
        max_length=16, choices=ConfigStatus.choices, default=ConfigStatus.APPLIED
    )
    # The AP's wireless interfaces as read back before disaster mode: restored exactly after.
    saved_config = models.JSONField(default=dict, blank=True)
    # What the AP was last confirmed to broadcast (by read-back), e.g. ["Toda_Free_Wi-Fi"].
    broadcasting = models.JSONField(default=list, blank=True)

    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    health_reason = models.CharField(max_length=200, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    clients = models.PositiveIntegerField(default=0)
    rx_bytes = models.BigIntegerField(default=0)
    tx_bytes = models.BigIntegerField(default=0)
    load = models.FloatField(null=True, blank=True)
    memory_used = models.FloatField(null=True, blank=True)  # 0..1
    uptime_s = models.BigIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("access point")
        verbose_name_plural = _("access points")
        ordering = ["site", "name"]
        indexes = [
            models.Index(fields=["health"], name="ap_health_idx"),
            models.Index(fields=["last_seen_at"], name="ap_last_seen_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ApHour(models.Model):
    """One AP's hour: the most clients seen, traffic, reports received (for charts)."""

    ap = models.ForeignKey(AccessPoint, on_delete=models.CASCADE, related_name="hours")
    hour = models.DateTimeField()
    max_clients = models.PositiveIntegerField(default=0)
    rx_bytes = models.BigIntegerField(default=0)
    tx_bytes = models.BigIntegerField(default=0)
    reports = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["ap", "hour"], name="ap_hour_unique")]
        indexes = [models.Index(fields=["hour"], name="ap_hour_idx")]

    def __str__(self) -> str:
        return f"{self.ap_id} {self.hour:%Y-%m-%d %H}"


class ClientSeen(models.Model):
    """A client device seen at a site in an hour, by a keyed hash of its MAC (never the MAC):
    counts unique clients per site and hour without keeping who they are."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    client = models.CharField(max_length=32)  # truncated HMAC-SHA256 of the MAC

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "hour", "client"], name="client_seen_unique")
        ]

    def __str__(self) -> str:
        return f"{self.site_id} {self.hour:%Y-%m-%d %H}"


class AlertKind(models.TextChoices):
    UNREACHABLE = "unreachable", _("Unreachable")
    CLIENTS = "clients", _("Too many clients")
    CONFIG = "config", _("Configuration not applied")
    RESOURCES = "resources", _("CPU or memory exhausted")


class WifiAlert(models.Model):
    """A problem with one AP, from when it was seen until it cleared."""

    ap = models.ForeignKey(AccessPoint, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    detail = models.CharField(max_length=300, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ap", "kind"],
                condition=models.Q(cleared_at__isnull=True),
                name="wifi_alert_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.ap_id} {self.kind}"


class SwitchDirection(models.TextChoices):
    ON = "on", _("Switch to 00000JAPAN")
    OFF = "off", _("Restore normal profiles")


class SwitchStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    CONFIRMED = "confirmed", _("Confirmed")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class ApSwitch(models.Model):
    """One AP's part of a disaster-mode switch (a core Job): what happened, confirmed or not."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="ap_switches")
    ap = models.ForeignKey(AccessPoint, on_delete=models.CASCADE, related_name="switches")
    direction = models.CharField(max_length=8, choices=SwitchDirection.choices)
    status = models.CharField(
        max_length=16, choices=SwitchStatus.choices, default=SwitchStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    drill = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )

    class Meta:
        ordering = ["job", "ap__name"]
        constraints = [models.UniqueConstraint(fields=["job", "ap"], name="ap_switch_once")]

    def __str__(self) -> str:
        return f"{self.ap_id} {self.direction} {self.status}"
