"""Scenarios: a disaster evening replayed through the real services, so the dashboards move.

``typhoon`` replays a Typhoon Hagibis-sized evening (令和元年東日本台風, 12 October 2019). 戸田市
counted 3,849 evacuees in 1,556 households at 28 shelters that night. Every write goes
through the emergency and shelters services, as HQ: the declaration, the openings,
registrations, check-ins, check-outs, transfers and supply requests. So the audit log, the
occupancy counters, the automatic 満員 and the duplicate flags are the product's own. Each
household is committed in its own short transaction, so a live HQ dashboard fills up while the
scenario runs.

The people are synthetic and meant to look it: common surnames paired with common given names,
house numbers from 9000 up, and phone numbers ``000-0000-xxxx``, which nobody has. Every
check-in the scenario makes names it on its device (``scenario:typhoon:<wave>``). The only
set-up outside the services is a ``Shelter`` record, with an assumed capacity, for a
designated-shelter facility that has none (a city whose shelter registry is not loaded yet).
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from machi.core import context
from machi.core import selectors as core_selectors
from machi.core.hazards import Hazard
from machi.core.models import Facility, User
from machi.core.roles import Role
from machi.emergency import selectors as emergency_selectors
from machi.emergency import services as emergency_services
from machi.emergency.models import Disaster
from machi.shelters import selectors, services
from machi.shelters.models import (
    CONSENT_ITEMS,
    Allergen,
    Checkin,
    CheckinSource,
    Household,
    Need,
    Opening,
    OpeningEvent,
    OpeningStatus,
    Person,
    Sex,
    Shelter,
    StayType,
    SupplyCategory,
)

TYPHOON_NAME = "令和元年東日本台風（台風第19号）"
TYPHOON_HAZARDS = (Hazard.FLOOD, Hazard.INLAND_FLOOD)
# 戸田市, Hagibis: 3,849 evacuees in 1,556 households at 28 shelters.
HAGIBIS_EVACUEES, HAGIBIS_HOUSEHOLDS, HAGIBIS_SHELTERS = 3849, 1556, 28
DEVICE_PREFIX = "scenario:typhoon:"
PHONE_PREFIX = "000-0000-"  # never a real number
CAPACITY_FACTOR = 1.5  # shelters created for the scenario hold 1.5 × the evacuees in all
HQ_USERNAME = "hq"  # the demo city's HQ account

# The evening on the clock printed with the progress: 14:00 to 04:00 the next morning.
EVENING_START_HOUR, EVENING_HOURS = 14, 14
# Arrivals: slow in the afternoon, a peak around 19:30 as the river rises, a tail after 22:00.
ARRIVAL_BETA = (2.4, 3.2)
ARRIVALS_END = 0.92
# Check-outs start after midnight, once the river level falls.
CHECKOUTS_FROM = 0.72
# Shelters open in two steps, as cities do: at 14:00 the community halls and centres open as
# 自主避難所 (at most half of the shelters), and at 17:30, with the 避難指示, all the others.
# The halls are small and near home, so some of them fill up (満員) before the schools open.
ALL_OPEN_AT = 3.5 / EVENING_HOURS

# Household sizes: 3,849 / 1,556 = 2.47 persons a household; these weights average 2.48.
HOUSEHOLD_SIZES = {1: 27, 2: 30, 3: 20, 4: 16, 5: 5, 6: 2}
# Where a household stays. Most come to a shelter; the rest are still counted (Noto 2024).
STAY_WEIGHTS = {
    StayType.SHELTER: 90.0,
    StayType.CAR: 4.5,
    StayType.HOME: 4.0,
    StayType.RELATIVES: 1.5,
}
STAY_WEIGHTS_WITH_PETS = {
    StayType.SHELTER: 70.0,
    StayType.CAR: 22.0,
    StayType.HOME: 6.0,
    StayType.RELATIVES: 2.0,
}
SELF_REGISTERED_RATE = 0.46  # adjusted down for households of elderly people only
SELF_REGISTERED_RATE_ELDERLY = 0.15
PETS_RATE = 0.08
CHECKOUT_RATE = 0.12  # households that go home during the night
DUPLICATE_RATE = 0.01  # people present at a second shelter too (never fewer than one)
TRANSFER_RATE = 0.004  # people moved to another shelter (never fewer than one)
MOVED_FOR = {Need.CARE, Need.DIALYSIS, Need.OXYGEN, Need.DISABILITY}  # first to be transferred

# Towns (町) of 戸田市 with a relative share of the evacuees and a rough centre (lat, lon). The
# centres only decide which shelters are "near"; they are approximations, not survey data.
TOWNS: tuple[tuple[str, float, float, float], ...] = (
    ("新曽", 14, 35.8195, 139.6645),
    ("上戸田", 10, 35.8145, 139.6780),
    ("下戸田", 9, 35.8140, 139.6860),
    ("美女木", 9, 35.8240, 139.6430),
    ("笹目", 8, 35.8165, 139.6490),
    ("本町", 6, 35.8060, 139.6790),
    ("喜沢", 6, 35.8117, 139.6959),
    ("川岸", 5, 35.8057, 139.6866),
    ("新曽南", 5, 35.8109, 139.6635),
    ("喜沢南", 4, 35.8050, 139.6930),
    ("中町", 3, 35.8075, 139.6760),
    ("南町", 3, 35.8030, 139.6710),
    ("氷川町", 3, 35.8090, 139.6830),
    ("早瀬", 3, 35.8060, 139.6560),
    ("下前", 3, 35.8106, 139.6874),
    ("戸田公園", 2, 35.8020, 139.6790),
    ("美女木東", 2, 35.8270, 139.6560),
    ("笹目南町", 2, 35.8100, 139.6490),
    ("笹目北町", 2, 35.8230, 139.6520),
)


def _pairs(text: str) -> tuple[tuple[str, str], ...]:
    """Name and reading pairs from words like 佐藤:サトウ."""
    return tuple((name, kana) for name, kana in (word.split(":") for word in text.split()))


FAMILY_NAMES = _pairs(
    "佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 田中:タナカ 伊藤:イトウ 渡辺:ワタナベ 山本:ヤマモト "
    "中村:ナカムラ 小林:コバヤシ 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ 佐々木:ササキ 山口:ヤマグチ "
    "松本:マツモト 井上:イノウエ 木村:キムラ 林:ハヤシ 斎藤:サイトウ 清水:シミズ"
)
# Given names by sex and generation (born ~1930-60, ~1960-95, ~1995-2019).
GIVEN_NAMES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("male", "old"): _pairs("清:キヨシ 茂:シゲル 博:ヒロシ 実:ミノル 勝:マサル 正雄:マサオ"),
    ("female", "old"): _pairs(
        "和子:カズコ 幸子:サチコ 節子:セツコ 洋子:ヨウコ 恵子:ケイコ 久子:ヒサコ"
    ),
    ("male", "mid"): _pairs(
        "健一:ケンイチ 大輔:ダイスケ 誠:マコト 拓也:タクヤ 直樹:ナオキ 隆:タカシ"
    ),
    ("female", "mid"): _pairs("裕子:ユウコ 真由美:マユミ 恵:メグミ 智子:トモコ 美穂:ミホ 愛:アイ"),
    ("male", "young"): _pairs("蓮:レン 湊:ミナト 陽翔:ハルト 蒼:アオイ 悠真:ユウマ 大翔:ヒロト"),
    ("female", "young"): _pairs(
        "陽葵:ヒマリ 凛:リン 結菜:ユイナ 芽依:メイ 紬:ツムギ さくら:サクラ"
    ),
}
# A few households of foreign residents (family name, given names, language).
FOREIGN_RATE = 0.03
FOREIGN_FAMILIES = (
    ("グエン", ("アン", "ミン", "ホア", "トゥアン"), "vi"),
    ("チャン", ("ラン", "フン", "マイ", "ズン"), "vi"),
    ("ワン", ("ウェイ", "リー", "ジン", "ハオ"), "zh"),
    ("サントス", ("マリア", "ジョアン", "アナ", "ペドロ"), "pt"),
    ("スミス", ("ジョン", "エマ", "ルーシー", "ダニエル"), "en"),
)
ALLERGENS = {
    Allergen.EGG: 35,
    Allergen.MILK: 20,
    Allergen.WHEAT: 10,
    Allergen.PEANUT: 10,
    Allergen.SHRIMP: 10,
    Allergen.BUCKWHEAT: 8,
    Allergen.CRAB: 7,
}
PETS = ("犬1匹", "犬1匹（小型犬）", "猫1匹", "猫2匹", "犬2匹", "小鳥1羽", "うさぎ1匹")
DIALYSIS_DAYS = ("月水金", "火木土")

# What each shelter asks HQ for during the evening: (when, category, item, unit, per person).
SUPPLIES: tuple[tuple[float, str, str, str, float], ...] = (
    (0.32, SupplyCategory.WATER, "飲料水 2Lペットボトル", "本", 1.5),
    (0.46, SupplyCategory.FOOD, "アルファ化米", "食", 2.0),
    (0.58, SupplyCategory.BLANKETS, "毛布", "枚", 1.0),
    (0.70, SupplyCategory.HYGIENE, "携帯トイレ", "回分", 5.0),
)
INFANT_SUPPLY = (0.52, SupplyCategory.INFANT, "紙おむつ", "枚", 10.0)  # per infant present


class ScenarioError(ValueError):
    """The scenario cannot run as asked; the message says why."""


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...


# --- Synthetic households -----------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticHousehold:
    index: int
    town: str
    address: str
    phone: str
    pets: str
    self_registered: bool
    stay: StayType
    arrival: float  # when it arrives, as a share of the evening (0 … 1)
    members: tuple[services.PersonInput, ...]


def _age(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _birth_date(rng: random.Random, age: int, today: dt.date) -> dt.date:
    days = int((age + rng.random()) * 365.25)
    return today - dt.timedelta(days=max(days, 1))  # born yesterday at the latest


def _generation(age: int) -> str:
    return "old" if age >= 60 else "mid" if age >= 25 else "young"


def _needs(rng: random.Random, age: int, sex: str) -> list[str]:
    """要配慮 at small, plausible rates (synthetic; not statistics to rely on)."""
    needs: list[str] = []
    if age <= 1:
        needs.append(Need.INFANT)
    if age >= 75 and rng.random() < 0.15:
        needs.append(Need.CARE)
    if age >= 65 and rng.random() < 0.25:
        needs.append(Need.MEDICATION)
    if age >= 65 and rng.random() < 0.005:
        needs.append(Need.OXYGEN)
    if age >= 20 and rng.random() < 0.003:
        needs.append(Need.DIALYSIS)
    if rng.random() < 0.02:
        needs.append(Need.DISABILITY)
    if rng.random() < 0.012:
        needs.append(Need.ILLNESS)
    if rng.random() < 0.004:
        needs.append(Need.INJURY)
    if sex == Sex.FEMALE and 20 <= age <= 42 and rng.random() < 0.04:
        needs.append(Need.PREGNANCY)
    return needs


def _allergies(rng: random.Random, age: int) -> list[str]:
    if rng.random() >= (0.05 if age < 15 else 0.02):
        return []
    count = 2 if rng.random() < 0.15 else 1
    return sorted(set(rng.choices(list(ALLERGENS), weights=list(ALLERGENS.values()), k=count)))


def _consent(rng: random.Random) -> dict[str, bool]:
    """安否 disclosure: most allow everything, some only name and whereabouts, some nothing."""
    roll = rng.random()
    if roll < 0.6:
        return dict.fromkeys(CONSENT_ITEMS, True)
    if roll < 0.85:
        return {item: item in {"name", "whereabouts"} for item in CONSENT_ITEMS}
    return dict.fromkeys(CONSENT_ITEMS, False)


def _ages(rng: random.Random, size: int) -> list[tuple[int, str]]:
    """(age, sex) of each member, head of household first."""
    male, female = Sex.MALE.value, Sex.FEMALE.value
    if size == 1:
        age = rng.randint(65, 92) if rng.random() < 0.45 else rng.randint(19, 64)
        return [(age, rng.choice((male, female)))]
    if size == 2:
        roll = rng.random()
        if roll < 0.45:  # an elderly couple
            age = rng.randint(65, 90)
            return [(age, male), (max(60, age - rng.randint(0, 5)), female)]
        if roll < 0.8:  # a couple
            age = rng.randint(25, 64)
            return [(age, male), (max(20, age - rng.randint(-3, 5)), female)]
        parent = rng.randint(24, 50)  # a parent and a child
        return [
            (parent, rng.choice((female, female, male))),
            (rng.randint(0, min(17, parent - 20)), rng.choice((male, female))),
        ]
    parent = rng.randint(27, 50)
    members = [(parent, male), (max(22, parent - rng.randint(-2, 5)), female)]
    grandparent = size >= 4 and rng.random() < 0.35
    for _ in range(size - 2 - int(grandparent)):
        members.append((rng.randint(2, min(17, parent - 20)), rng.choice((male, female))))
    if size >= 3 and rng.random() < 0.15:  # a baby (the youngest)
        members[-1] = (rng.randint(0, 1), members[-1][1])
    if grandparent:
        members.append((rng.randint(parent + 20, min(parent + 40, 95)), rng.choice((male, female))))
    return members


def households_generate(
    *, evacuees: int, seed: int, wave: int = 1, today: dt.date | None = None
) -> list[SyntheticHousehold]:
    """Synthetic households with ``evacuees`` people in all; the same seed and wave, the same
    people (household codes and check-in ids are made by the services, at random)."""
    rng = random.Random(seed * 1000 + wave)  # noqa: S311 - synthetic data, not security
    today = today or timezone.localdate()
    towns = [t[0] for t in TOWNS]
    town_weights = [t[1] for t in TOWNS]
    households: list[SyntheticHousehold] = []
    people = 0
    while people < evacuees:
        index = len(households)
        size = min(
            rng.choices(list(HOUSEHOLD_SIZES), weights=list(HOUSEHOLD_SIZES.values()))[0],
            evacuees - people,
        )
        town = rng.choices(towns, weights=town_weights)[0]
        address = f"埼玉県戸田市{town}{rng.randint(9000, 9899)}-{rng.randint(1, 30)}"
        phone = f"{PHONE_PREFIX}{((wave - 1) * 5000 + index) % 10000:04d}"
        foreign = FOREIGN_FAMILIES[rng.randrange(len(FOREIGN_FAMILIES))]
        is_foreign = rng.random() < FOREIGN_RATE
        family, family_kana = rng.choice(FAMILY_NAMES)
        consent = _consent(rng)
        members = []
        for position, (age, sex) in enumerate(_ages(rng, size)):
            birth = _birth_date(rng, age, today)
            age = _age(birth, today)
            needs = _needs(rng, age, sex)
            language = ""
            if is_foreign:
                given = given_kana = rng.choice(foreign[1])
                name, name_kana = foreign[0], foreign[0]
                if age >= 15 and rng.random() < 0.6:
                    language = foreign[2]
                    needs.append(Need.LANGUAGE)
            else:
                given, given_kana = rng.choice(GIVEN_NAMES[(sex, _generation(age))])
                name, name_kana = family, family_kana
            note = ""
            if Need.DIALYSIS in needs:
                note = f"透析 {rng.choice(DIALYSIS_DAYS)}"
            members.append(
                services.PersonInput(
                    family_name=name,
                    given_name=given,
                    family_name_kana=name_kana,
                    given_name_kana=given_kana,
                    birth_date=birth,
                    sex=sex,
                    phone=phone if position == 0 else "",
                    needs=tuple(needs),
                    allergies=tuple(_allergies(rng, age)),
                    needs_note=note,
                    language=language,
                    consent=dict(consent),
                )
            )
        all_elderly = all(
            m.birth_date is not None and _age(m.birth_date, today) >= 65 for m in members
        )
        pets = rng.choice(PETS) if rng.random() < PETS_RATE else ""
        weights = STAY_WEIGHTS_WITH_PETS if pets else STAY_WEIGHTS
        stay = rng.choices(list(weights), weights=list(weights.values()))[0]
        rate = SELF_REGISTERED_RATE_ELDERLY if all_elderly else SELF_REGISTERED_RATE
        households.append(
            SyntheticHousehold(
                index=index,
                town=town,
                address=address,
                phone=phone,
                pets=pets,
                self_registered=rng.random() < rate,
                stay=stay,
                arrival=rng.betavariate(*ARRIVAL_BETA) * ARRIVALS_END,
                members=tuple(members),
            )
        )
        people += size
    return households


# --- Shelters: which ones, and their set-up -----------------------------------------------------

_CAPACITY_WEIGHTS = (
    (re.compile(r"艇庫|管理事務所"), 0.3),  # by the river, small: a poor place for a typhoon night
    (re.compile(r"高等学校|高校"), 3.0),
    (re.compile(r"中学校"), 2.4),
    (re.compile(r"小学校"), 2.0),
    (re.compile(r"センター|会館|体育館"), 1.0),
)


def capacity_weight(facility: Facility) -> float:
    """How large a facility is likely to be, from its name (schools hold the most people)."""
    for pattern, weight in _CAPACITY_WEIGHTS:
        if pattern.search(facility.name):
            return weight
    return 0.6


def _stages(shelters: list[Shelter], live: set[int]) -> tuple[list[Shelter], list[Shelter]]:
    """Which shelters open at once (those already open, and the halls), which at 18:00."""
    halls = [s for s in shelters if s.pk in live or capacity_weight(s.facility) <= 1.0]
    first = halls[: max(1, len(shelters) // 2, sum(s.pk in live for s in shelters))]
    first = first or shelters[:1]
    return first, [s for s in shelters if s not in first]


def _size(facility: Facility, shelter: Shelter | None) -> float:
    """People a shelter holds: its capacity when known, else a guess from its name."""
    if shelter is not None and shelter.capacity:
        return float(shelter.capacity)
    return 100 * capacity_weight(facility)


def _size_factor(facility: Facility) -> float:
    """Buildings of a kind differ (a gym, a hall): 0.5 … 1.3, fixed for each facility."""
    return random.Random(facility.pk * 7919).uniform(0.5, 1.3)  # noqa: S311 - not security


def _suits(shelter: Shelter | None) -> bool:  # no hazards known: HQ decides, as in services
    return (
        shelter is None or not shelter.hazards or bool(set(shelter.hazards) & set(TYPHOON_HAZARDS))
    )


def shelter_candidates() -> list[Facility]:
    """Designated-shelter facilities that may open for the typhoon: those with no shelter record
    yet, and those whose record has no hazards or a flood hazard."""
    facilities = list(core_selectors.facilities_public().filter(is_shelter=True).order_by("pk"))
    shelters = {s.facility_id: s for s in Shelter.objects.filter(facility__in=facilities)}
    return [f for f in facilities if _suits(shelters.get(f.pk))]


def typhoon_active() -> Disaster | None:
    return emergency_selectors.disasters_active().filter(name=TYPHOON_NAME).first()


def shelters_prepare(*, count: int, evacuees: int, disaster: Disaster | None) -> list[Shelter]:
    """Pick ``count`` shelters for the typhoon and create the missing ``Shelter`` records.

    Preferred: shelters already open for the disaster (a second wave uses the same ones), then
    existing shelter records, then the largest facilities. A created record gets an assumed
    night capacity, so that all the shelters together hold about 1.5 × the evacuees.
    """
    candidates = shelter_candidates()
    if count > len(candidates):
        raise ScenarioError(
            f"{count} shelters asked for, but only {len(candidates)} designated-shelter "
            "facilities suit a flood (load the demo city with `machi demo --no-serve`, or "
            "import the shelter registry with `machi shelters import`)"
        )
    existing = {
        s.facility_id: s
        for s in Shelter.objects.filter(facility__in=candidates).select_related("facility")
    }
    live: set[int] = set()
    if disaster is not None:
        live = set(selectors.openings_live(disaster).values_list("shelter__facility_id", flat=True))
    chosen = sorted(
        candidates,
        key=lambda f: (f.pk not in live, f.pk not in existing, -_size(f, existing.get(f.pk)), f.pk),
    )[:count]
    missing = [f for f in chosen if f.pk not in existing]
    if missing:
        known = sum(existing[f.pk].capacity or 0 for f in chosen if f.pk in existing)
        remaining = max(CAPACITY_FACTOR * evacuees - known, 30.0 * len(missing))
        sizes = {f.pk: capacity_weight(f) * _size_factor(f) for f in missing}
        total_weight = sum(sizes.values())
        for facility in missing:
            share = remaining * sizes[facility.pk] / total_weight
            capacity = max(20, int(round(share / 5) * 5))
            existing[facility.pk], _ = Shelter.objects.get_or_create(
                facility=facility,
                defaults={
                    "capacity_night": capacity,
                    "notes": "Created by the typhoon scenario; the capacity is an assumption.",
                },
            )
    return [existing[f.pk] for f in chosen]


def hq_user() -> User:
    """The demo HQ account, or else the first user holding the HQ role."""
    users = User.objects.filter(is_active=True, role_assignments__role=Role.HQ).distinct()
    user = users.filter(username=HQ_USERNAME).first() or users.order_by("pk").first()
    if user is None:
        raise ScenarioError(
            "no active user holds the HQ role: load the demo city (`machi demo --no-serve`) "
            "or grant the role to someone first"
        )
    return user


# --- The run ------------------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    disaster_id: int
    disaster_name: str
    wave: int
    shelters_opened: int
    households: int = 0
    self_registered: int = 0
    people: int = 0
    checkins: int = 0  # stays recorded (a duplicate or a transfer makes one more)
    checked_out: int = 0  # stays ended (a transfer ends one)
    at_shelters: int = 0  # this run's stays still present at a shelter
    elsewhere: dict[str, int] = field(default_factory=dict)  # … at home, in cars, with relatives
    duplicates: int = 0
    transfers: int = 0
    supply_requests: int = 0
    went_full: int = 0  # openings that reached their capacity during the run
    full_now: int = 0
    conflicts_flagged: int = 0  # stays flagged for HQ, all waves
    elapsed: float = 0.0
    interrupted: bool = False

    @property
    def present(self) -> int:
        return self.at_shelters + sum(self.elsewhere.values())

    @property
    def rate(self) -> float:
        """Check-ins per second."""
        return self.checkins / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class _Live:
    """What the scenario knows of an open shelter between two looks at the database."""

    opening: Opening
    capacity: int | None
    occupancy: int
    status: str
    weight: float
    latitude: float | None
    longitude: float | None
    infants: int = 0

    @property
    def full(self) -> bool:
        if self.status == OpeningStatus.FULL:
            return True
        return self.capacity is not None and self.occupancy >= self.capacity

    @property
    def ratio(self) -> float:
        return self.occupancy / self.capacity if self.capacity else 0.0


@dataclass(order=True)
class _Event:
    at: float
    seq: int
    kind: str = field(compare=False)
    args: tuple[Any, ...] = field(compare=False, default=())


_TOWN_CENTRES = {name: (lat, lon) for name, _w, lat, lon in TOWNS}
# People go to the shelter they know, near home, whatever its size: a shelter's pull fades with
# the distance from the household's town and grows only a little with its capacity. So the
# small halls in crowded towns fill up first, as they do.
NEAR_KM = 0.5
SIZE_PULL = 0.05


def _distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    dlat = (a[0] - b[0]) * 111.0
    dlon = (a[1] - b[1]) * 111.0 * math.cos(math.radians(a[0]))
    return math.hypot(dlat, dlon)


def _clock_label(at: float) -> str:
    minutes = int((EVENING_START_HOUR + at * EVENING_HOURS) * 60)
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


class _Run:
    def __init__(
        self,
        *,
        disaster: Disaster,
        openings: list[Opening],
        wave: int,
        seed: int,
        out: Callable[[str], object],
    ) -> None:
        self.disaster = disaster
        self.wave = wave
        self.device = f"{DEVICE_PREFIX}{wave}"
        self.out = out
        self.rng = random.Random(seed * 1000 + wave + 500)  # noqa: S311 - synthetic data
        self.live = [self._live(o) for o in openings]
        self.later: list[Shelter] = []  # opened at ALL_OPEN_AT (or when all others are full)
        self.now = 0.0  # the evening's time of the current event
        self.stays: dict[int, list[Checkin]] = {}  # household index → its present stays
        self.households: list[SyntheticHousehold] = []
        self.counts: Counter[str] = Counter()

    @staticmethod
    def _live(o: Opening) -> _Live:
        return _Live(
            opening=o,
            capacity=o.capacity,
            occupancy=o.occupancy,
            status=o.status,
            weight=(o.capacity or 100 * capacity_weight(o.shelter.facility)) ** SIZE_PULL,
            latitude=_float(o.shelter.facility.latitude),
            longitude=_float(o.shelter.facility.longitude),
        )

    # Choosing a shelter: near the household's town, large, and not full.
    def _pull(self, live: _Live, town: str) -> float:
        centre = _TOWN_CENTRES.get(town)
        if centre is None or live.latitude is None or live.longitude is None:
            return live.weight
        distance = _distance_km(centre, (live.latitude, live.longitude))
        return live.weight * math.exp(-distance / NEAR_KM)

    def choose(self, town: str, *, exclude: Opening | None = None) -> _Live:
        pool = [live for live in self.live if exclude is None or live.opening.pk != exclude.pk]
        pool = pool or self.live
        vacant = [live for live in pool if not live.full]
        if not vacant:  # every shelter full: people still need a roof; the least crowded one
            return min(pool, key=lambda live: live.ratio)
        return self.rng.choices(vacant, weights=[self._pull(live, town) for live in vacant])[0]

    def _live_of(self, opening_id: int | None) -> _Live | None:
        return next((live for live in self.live if live.opening.pk == opening_id), None)

    def sync(self) -> None:
        """Take the real statuses and counts (staff may mark a shelter full by hand)."""
        fresh = Opening.objects.filter(pk__in=[live.opening.pk for live in self.live])
        for pk, status, occupancy in fresh.values_list("pk", "status", "occupancy"):
            live = self._live_of(pk)
            if live is not None:
                live.status, live.occupancy = status, occupancy

    # The events.
    def _open(self, shelter: Shelter) -> None:
        opening = services.opening_open(shelter=shelter, disaster=self.disaster)
        opening.shelter = shelter
        self.live.append(self._live(opening))
        self.later.remove(shelter)

    def open_all(self) -> None:
        """The 避難指示: HQ opens every other shelter."""
        count = len(self.later)
        for shelter in list(self.later):
            self._open(shelter)
        if count:
            self.out(f"  {_clock_label(self.now)}  避難指示: {count} more shelters open")

    def arrive(self, household: SyntheticHousehold) -> None:
        if household.stay == StayType.SHELTER and self.later and all(x.full for x in self.live):
            shelter = self.later[0]  # every open shelter is full: HQ opens one more now
            self._open(shelter)
            self.out(f"  {_clock_label(self.now)}  all open shelters full: {shelter} opens")
        place = self.choose(household.town) if household.stay == StayType.SHELTER else None
        with transaction.atomic():
            registered = services.household_register(
                members=household.members,
                disaster=self.disaster,
                address=household.address,
                phone=household.phone,
                pets=household.pets,
                self_registered=household.self_registered,
            )
            results = services.checkin_household(
                checkin_id=uuid.uuid4(),
                household=registered,
                disaster=self.disaster,
                opening=place.opening if place else None,
                stay_type=household.stay,
                source=CheckinSource.QR if household.self_registered else CheckinSource.STAFF,
                device=self.device,
            )
        self.stays[household.index] = [r.checkin for r in results]
        self.counts["households"] += 1
        self.counts["self_registered"] += household.self_registered
        self.counts["people"] += len(results)
        self.counts["checkins"] += len(results)
        if place is not None:
            place.occupancy += len(results)
            place.infants += sum(1 for m in household.members if Need.INFANT in m.needs)
            self.counts["at_shelters"] += len(results)
        else:
            self.counts[f"elsewhere:{household.stay}"] += len(results)

    def duplicate(self, household: SyntheticHousehold, member: int) -> None:
        """A member checks in at a second shelter without leaving the first (as on paper)."""
        stays = self.stays.get(household.index, [])
        if member >= len(stays) or stays[member].opening_id is None:
            return
        first = stays[member]
        second = self.choose(household.town, exclude=first.opening)
        if second.opening.pk == first.opening_id:
            return
        services.checkin_create(
            checkin_id=uuid.uuid4(),
            person=first.person,
            disaster=self.disaster,
            opening=second.opening,
            stay_type=StayType.SHELTER,
            source=CheckinSource.QR,
            device=self.device,
        )
        second.occupancy += 1
        self.counts["duplicates"] += 1
        self.counts["checkins"] += 1
        self.counts["at_shelters"] += 1

    def leave(self, household: SyntheticHousehold) -> None:
        """The whole household goes home after midnight."""
        stays = self.stays.pop(household.index, [])
        with transaction.atomic():
            for stay in stays:
                services.checkout(checkin=stay, note="went home (scenario)")
        for stay in stays:
            live = self._live_of(stay.opening_id)
            if live is not None:
                live.occupancy -= 1
                self.counts["at_shelters"] -= 1
            else:
                self.counts[f"elsewhere:{stay.stay_type}"] -= 1
        self.counts["checked_out"] += len(stays)

    def move(self, household: SyntheticHousehold, member: int) -> None:
        """A member is transferred to another shelter (care needed, or a crowded hall)."""
        stays = self.stays.get(household.index, [])
        if member >= len(stays) or stays[member].opening_id is None:
            return
        stay = stays[member]
        needs_care = bool(MOVED_FOR & set(household.members[member].needs))
        welfare = [
            live
            for live in self.live
            if needs_care
            and "福祉" in live.opening.shelter.facility.name
            and live.opening.pk != stay.opening_id
            and not live.full
        ]
        target = welfare[0] if welfare else self.choose(household.town, exclude=stay.opening)
        if target.opening.pk == stay.opening_id:
            return
        result = services.transfer(checkin=stay, to_opening=target.opening, new_id=uuid.uuid4())
        stays[member] = result.checkin
        source = self._live_of(stay.opening_id)
        if source is not None:
            source.occupancy -= 1
        target.occupancy += 1
        self.counts["transfers"] += 1
        self.counts["checkins"] += 1
        self.counts["checked_out"] += 1

    def supply(self, index: int, spec: tuple[float, str, str, str, float]) -> None:
        if index >= len(self.live):  # not open yet
            return
        live = self.live[index]
        _at, category, item, unit, per_person = spec
        people = live.infants if category == SupplyCategory.INFANT else live.occupancy
        if people <= 0:
            return
        services.supply_request(
            opening=live.opening,
            category=category,
            item=item,
            quantity=max(1, math.ceil(people * per_person)),
            unit=unit,
            note=f"{people}人分 (scenario)",
        )
        self.counts["supply_requests"] += 1

    def _after_all_open(self, at: float) -> float:
        """Duplicates and transfers need a second shelter: not before every shelter is open."""
        return min(0.99, max(at, ALL_OPEN_AT + self.rng.uniform(0.01, 0.1)))

    def plan(self, households: list[SyntheticHousehold]) -> list[_Event]:
        """Every event of the evening, in order: arrivals, duplicates, check-outs, transfers,
        supply requests."""
        self.households = households
        events: list[_Event] = []
        seq = iter(range(1 << 62))
        if self.later:
            events.append(_Event(ALL_OPEN_AT, next(seq), "open_all"))
        for household in households:
            events.append(_Event(household.arrival, next(seq), "arrive", (household,)))
        at_shelter = [h for h in households if h.stay == StayType.SHELTER]
        shelter_people = sum(len(h.members) for h in at_shelter)
        order = list(at_shelter)
        self.rng.shuffle(order)
        # Duplicates, transfers and check-outs go to different households, so each happens.
        shelters = len(self.live) + len(self.later)
        if shelters >= 2 and order:
            doubles = max(1, round(DUPLICATE_RATE * shelter_people))
            for household in order[:doubles]:
                member = self.rng.randrange(len(household.members))
                at = self._after_all_open(household.arrival + self.rng.uniform(0.03, 0.15))
                events.append(_Event(at, next(seq), "duplicate", (household, member)))
            order = order[doubles:]
        if shelters >= 2 and order:
            order.sort(key=lambda h: not any(MOVED_FOR & set(m.needs) for m in h.members))
            movers = max(1, round(TRANSFER_RATE * shelter_people))
            for household in order[:movers]:
                member = next(
                    (i for i, m in enumerate(household.members) if MOVED_FOR & set(m.needs)), 0
                )
                at = self._after_all_open(household.arrival + self.rng.uniform(0.05, 0.2))
                events.append(_Event(at, next(seq), "move", (household, member)))
            order = order[movers:]
        leaving = [h for h in order if self.rng.random() < CHECKOUT_RATE]
        for household in leaving:
            start = max(CHECKOUTS_FROM, household.arrival + 0.05)
            events.append(_Event(self.rng.uniform(start, 1.0), next(seq), "leave", (household,)))
        for index in range(shelters):
            for spec in (*SUPPLIES, INFANT_SUPPLY):
                at = min(0.99, max(0.0, spec[0] + self.rng.uniform(-0.05, 0.05)))
                events.append(_Event(at, next(seq), "supply", (index, spec)))
        events.sort()
        return events

    def run(self, event: _Event) -> None:
        self.now = event.at
        handler: Callable[..., None] = getattr(self, event.kind)
        handler(*event.args)

    def progress(self, at: float, done: float, elapsed: float) -> None:
        elsewhere = sum(v for k, v in self.counts.items() if k.startswith("elsewhere:"))
        full = sum(1 for live in self.live if live.full)
        self.out(
            f"  {_clock_label(at)}  {done:4.0%}  people {self.counts['people']:>6,}  "
            f"at shelters {self.counts['at_shelters']:>6,}  elsewhere {elsewhere:>5,}  "
            f"full {full:>2}  duplicates {self.counts['duplicates']:>3}  "
            f"supplies {self.counts['supply_requests']:>3}  {elapsed:6.1f} s"
        )


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


def _next_wave(disaster: Disaster) -> int:
    devices = (
        Checkin.objects.filter(disaster=disaster, device__startswith=DEVICE_PREFIX)
        .values_list("device", flat=True)
        .distinct()
    )
    waves = [int(d[len(DEVICE_PREFIX) :]) for d in devices if d[len(DEVICE_PREFIX) :].isdigit()]
    return max(waves, default=0) + 1


def typhoon(
    *,
    evacuees: int = HAGIBIS_EVACUEES,
    shelters: int = HAGIBIS_SHELTERS,
    minutes: float = 10.0,
    seed: int = 19,
    out: Callable[[str], object] = print,
    clock: Clock = time,
) -> ScenarioResult:
    """Replay a typhoon evening through the real services, as HQ; see the module's docstring.

    ``minutes`` of real time stand for the evening (0: as fast as the database goes). Running it
    again adds a second wave to the same disaster. Ctrl-C stops it between two households;
    what was done stays done and is summed up.
    """
    if evacuees < 1:
        raise ScenarioError("--evacuees must be at least 1")
    if shelters < 1:
        raise ScenarioError("--shelters must be at least 1")
    if not math.isfinite(minutes) or minutes < 0:
        raise ScenarioError("--minutes must be 0 or more")
    user = hq_user()
    with context.acting(user=user, channel="task"):
        started_wall = timezone.now()
        disaster = typhoon_active()
        chosen = shelters_prepare(count=shelters, evacuees=evacuees, disaster=disaster)
        if disaster is None:
            disaster = emergency_services.disaster_declare(
                name=TYPHOON_NAME, hazards=TYPHOON_HAZARDS, declared_by=user
            )
            out(f"Declared {disaster.name} (disaster #{disaster.pk}) as {user.get_username()}.")
        else:
            out(f"Reusing the active {disaster.name} (disaster #{disaster.pk}).")
        live = set(selectors.openings_live(disaster).values_list("shelter_id", flat=True))
        first, later = _stages(chosen, live)
        openings = []
        for shelter in first:
            opening = services.opening_open(shelter=shelter, disaster=disaster)
            opening.shelter = shelter
            openings.append(opening)
        wave = _next_wave(disaster)
        households = households_generate(evacuees=evacuees, seed=seed, wave=wave)
        run = _Run(disaster=disaster, openings=openings, wave=wave, seed=seed, out=out)
        run.later = later
        events = run.plan(households)
        capacity = sum(s.capacity or 0 for s in chosen)
        out(
            f"Wave {wave}: {evacuees:,} evacuees in {len(households):,} households, "
            f"{len(chosen)} shelters (capacity {capacity:,}; {len(first)} open now, "
            f"the rest at {_clock_label(ALL_OPEN_AT)}), {len(events):,} events over "
            f"{minutes:g} min (seed {seed})."
        )
        result = ScenarioResult(
            disaster_id=disaster.pk,
            disaster_name=disaster.name,
            wave=wave,
            shelters_opened=len(openings),
        )
        start = clock.monotonic()
        step, next_report = 0.05, 0.05
        try:
            for number, event in enumerate(events, 1):
                due = start + event.at * minutes * 60
                wait = due - clock.monotonic()
                if wait > 0:
                    clock.sleep(wait)
                run.run(event)
                done = number / len(events)
                if done >= next_report or number == len(events):
                    run.sync()
                    run.progress(event.at, done, clock.monotonic() - start)
                    while next_report <= done:
                        next_report += step
        except KeyboardInterrupt:
            result.interrupted = True
            out("Interrupted: stopping here. Everything recorded so far stays recorded.")
        result.elapsed = clock.monotonic() - start
        result.shelters_opened = len(run.live)
        _summarise(result, run, disaster, since=started_wall)
    for line in summary_lines(result):
        out(line)
    return result


def _summarise(
    result: ScenarioResult, run: _Run, disaster: Disaster, *, since: dt.datetime
) -> None:
    """Fill the result from the database (the truth), for this wave's households."""
    households = Household.objects.filter(
        disaster=disaster, phone__startswith=PHONE_PREFIX, created_at__gte=since
    )
    stays = Checkin.objects.filter(person__household__in=households)
    present = stays.filter(checked_out_at__isnull=True)
    result.households = households.count()
    result.self_registered = households.filter(self_registered=True).count()
    result.people = Person.objects.filter(household__in=households).count()
    result.checkins = stays.count()
    result.checked_out = stays.filter(checked_out_at__isnull=False).count()
    result.at_shelters = present.filter(opening__isnull=False).count()
    result.elsewhere = dict(
        Counter(present.filter(opening__isnull=True).values_list("stay_type", flat=True))
    )
    result.duplicates = run.counts["duplicates"]
    result.transfers = run.counts["transfers"]
    result.supply_requests = run.counts["supply_requests"]
    result.went_full = (
        OpeningEvent.objects.filter(
            opening__disaster=disaster, note="capacity reached", at__gte=since
        )
        .values("opening")
        .distinct()
        .count()
    )
    result.full_now = Opening.objects.filter(disaster=disaster, status=OpeningStatus.FULL).count()
    result.conflicts_flagged = Checkin.objects.filter(
        disaster=disaster, conflict=True, checked_out_at__isnull=True
    ).count()


def summary_lines(result: ScenarioResult) -> list[str]:
    labels = {
        StayType.CAR: "in cars",
        StayType.HOME: "at home",
        StayType.RELATIVES: "with relatives",
    }
    elsewhere = ", ".join(
        f"{labels.get(StayType(k), k)} {v:,}" for k, v in sorted(result.elsewhere.items())
    )
    share = result.self_registered / result.households if result.households else 0.0
    title = "Interrupted" if result.interrupted else "Done"
    return [
        f"{title}: {result.disaster_name} (disaster #{result.disaster_id}), wave {result.wave}",
        f"  people checked in   {result.people:,} in {result.households:,} households "
        f"({share:.0%} self-registered by phone)",
        f"  at shelters now     {result.at_shelters:,} at {result.shelters_opened} shelters",
        f"  elsewhere now       {sum(result.elsewhere.values()):,}"
        + (f" ({elsewhere})" if elsewhere else ""),
        f"  checked out         {result.checked_out:,} stays ({result.transfers} transfers)",
        f"  full shelters       {result.went_full} reached capacity, {result.full_now} full now",
        f"  duplicates          {result.duplicates} people at a second shelter; "
        f"{result.conflicts_flagged} stays flagged for HQ",
        f"  supply requests     {result.supply_requests}",
        f"  elapsed             {result.elapsed:.1f} s, {result.rate:.0f} check-ins/s",
    ]


# The scenarios ``machi scenario NAME`` knows.
SCENARIOS: dict[str, Callable[..., ScenarioResult]] = {"typhoon": typhoon}
