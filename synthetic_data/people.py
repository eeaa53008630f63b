"""Who the patients are: age and sex like England's pyramid, names, ethnicity, registration."""
from __future__ import annotations

import datetime as dt
import random

# England mid-2021 population by 5-year band (ONS), percent; the last band is 90-99.
_AGE_BANDS = [5.4, 5.9, 6.0, 5.6, 6.0, 6.7, 6.9, 6.6, 6.3, 6.4, 6.9, 6.7, 5.8, 4.9, 4.9, 3.6, 2.5,
              1.5, 0.9]
# Census 2021 England ethnic categories, percent (Gypsy/Traveller folded into Other White,
# Arab into Other).
CATEGORY_WEIGHTS = {
    "White British": 73.5, "White Irish": 0.9, "Other White": 6.4,
    "White and Black Caribbean": 0.9, "White and Black African": 0.5, "White and Asian": 0.8,
    "Other Mixed": 0.8, "Indian": 3.3, "Pakistani": 2.9, "Bangladeshi": 1.2, "Chinese": 0.8,
    "Other Asian": 1.6, "Caribbean": 1.1, "African": 2.6, "Other Black": 0.5, "Other": 2.2,
}
SOUTH_ASIAN = ("Indian", "Pakistani", "Bangladeshi")

_GIVEN = {
    "female": ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophia", "Emily", "Margaret",
               "Susan", "Patricia", "Fatima", "Aisha", "Priya", "Mary", "Joan", "Sarah", "Zainab",
               "Chloe", "Hannah", "Elizabeth", "Ruth", "Blessing", "Mei", "Ewa"],
    "male": ["Oliver", "George", "Harry", "Noah", "Jack", "Leo", "Arthur", "Muhammad", "Thomas",
             "James", "John", "David", "Peter", "Michael", "Mohammed", "Rajesh", "Ibrahim", "Daniel",
             "Samuel", "Kwame", "Tomasz", "Wei", "Robert", "William", "Ahmed"],
}
_FAMILY = ["Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
           "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
           "Hughes", "Green", "Hall", "Khan", "Patel", "Ali", "Begum", "Hussain", "Shah", "Ahmed",
           "Okafor", "Mensah", "Campbell", "Kowalski", "Chen", "Murphy", "Kelly", "Clarke", "Lewis",
           "Harris", "Martin", "Jackson", "Wood", "Turner", "Cooper", "Hill", "Ward", "Morris"]


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:          # 29 February in a non-leap year
        return day.replace(year=day.year + years, day=28)


def add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.year * 12 + day.month - 1 + months, 12)
    m += 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(y, m, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def birth_date_for_age(rng: random.Random, as_of: dt.date, age: int) -> dt.date:
    """A birth date giving exactly ``age`` full years on ``as_of``."""
    latest = add_years(as_of, -age)
    return latest - dt.timedelta(days=rng.randrange(365))


def sample_age(rng: random.Random) -> int:
    band = rng.choices(range(len(_AGE_BANDS)), weights=_AGE_BANDS)[0]
    return band * 5 + rng.randrange(10 if band == len(_AGE_BANDS) - 1 else 5)


def sample_sex(rng: random.Random, age: int) -> str:
    r = rng.random()
    if r < 0.0005:
        return "unknown" if r < 0.00025 else "other"
    female_share = 0.505 if age < 70 else 0.55 if age < 85 else 0.65
    return "female" if rng.random() < female_share else "male"


def sample_name(rng: random.Random, sex: str) -> tuple[str, str]:
    pool = _GIVEN.get(sex) or rng.choice(list(_GIVEN.values()))
    return rng.choice(pool), rng.choice(_FAMILY)


class Ethnicity:
    """Samples census categories in England's proportions, scaled per practice, then a code."""

    def __init__(self, rows):
        snomed = [r for r in rows if r["system"] == "http://snomed.info/sct"]
        self.by_category: dict[str, list[tuple]] = {}
        self.info: dict[str, tuple[str, str]] = {}
        self.not_stated = None
        for r in snomed:
            coding = (r["system"], r["code"], r["term"])
            self.info[r["code"]] = (r.get("group", ""), r.get("category", ""))
            if r.get("category") == "Not stated":
                self.not_stated = self.not_stated or coding
            else:
                self.by_category.setdefault(r.get("category", ""), []).append(coding)
        self.categories = [c for c in CATEGORY_WEIGHTS if c in self.by_category]
        if not self.categories or self.not_stated is None:
            raise ValueError("ethnicity codelist lacks SNOMED census categories or a 'Not stated' code")

    def sample(self, rng: random.Random, minority_factor: float) -> tuple:
        weights = [CATEGORY_WEIGHTS[c] * (1 if c.startswith("White") or c == "Other White"
                                          else minority_factor) for c in self.categories]
        return self.code_for(rng, rng.choices(self.categories, weights=weights)[0])

    def code_for(self, rng: random.Random, category: str) -> tuple:
        return rng.choice(self.by_category[category])

    def group(self, code: str) -> str:
        return self.info.get(code, ("", ""))[0]

    def category(self, code: str) -> str:
        return self.info.get(code, ("", ""))[1]
