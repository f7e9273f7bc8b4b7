from __future__ import annotations

from decimal import Decimal

import factory

from machi.core.models import Facility, Municipality, User


class MunicipalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Municipality
        django_get_or_create = ("lgcode",)

    lgcode = "112241"
    name = "戸田市"
    name_kana = "とだし"
    prefecture = "埼玉県"


class FacilityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Facility

    municipality = factory.SubFactory(MunicipalityFactory)
    code = factory.Sequence(lambda n: f"E11224000{n:05d}")
    name = factory.Sequence(lambda n: f"第{n}小学校")
    address = factory.Sequence(lambda n: f"埼玉県戸田市上戸田{n}-1-1")
    latitude = Decimal("35.817500")
    longitude = Decimal("139.677778")


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    display_name = factory.Sequence(lambda n: f"職員{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery-staple")

    @factory.post_generation
    def save_password(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()
