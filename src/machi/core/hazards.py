"""The eight hazard types of 指定緊急避難場所 (災害対策基本法施行令 第20条の4), as GSI lists them.

Shared by the emergency room (what a disaster is) and the shelters room (what a place suits).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Hazard(models.TextChoices):
    FLOOD = "flood", _("Flood")
    LANDSLIDE = "landslide", _("Landslide and debris flow")
    STORM_SURGE = "storm_surge", _("Storm surge")
    EARTHQUAKE = "earthquake", _("Earthquake")
    TSUNAMI = "tsunami", _("Tsunami")
    LARGE_FIRE = "large_fire", _("Large fire")
    INLAND_FLOOD = "inland_flood", _("Inland flooding")
    VOLCANO = "volcano", _("Volcanic phenomena")


# The column names of the GSI files and of dataset 03 (after 災害種別_), in GSI order.
GSI_COLUMNS: dict[str, Hazard] = {
    "洪水": Hazard.FLOOD,
    "崖崩れ、土石流及び地滑り": Hazard.LANDSLIDE,
    "高潮": Hazard.STORM_SURGE,
    "地震": Hazard.EARTHQUAKE,
    "津波": Hazard.TSUNAMI,
    "大規模な火事": Hazard.LARGE_FIRE,
    "内水氾濫": Hazard.INLAND_FLOOD,
    "火山現象": Hazard.VOLCANO,
}
