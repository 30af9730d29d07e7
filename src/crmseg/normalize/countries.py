"""Country names and codes as CRMs hold them -> ISO 3166-1 alpha-2 codes.

Lookups go through pycountry (alpha-2, alpha-3, name, official name, common name),
plus a small table of everyday spellings ISO does not list ("U.S.A.", "UK", "England",
"Deutschland", "Holland", ...). Matching ignores case, accents, dots, apostrophes,
other punctuation and a leading "the"; there is no fuzzy matching, so a typo stays
unknown rather than turning into the wrong country.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pycountry

__all__ = ["ALIASES", "country_key", "to_alpha2"]

#: Everyday spellings that ISO 3166 (and so pycountry) does not list -> alpha-2.
ALIASES: dict[str, str] = {
    # United States
    "us of a": "US",
    "america": "US",
    "united states of america": "US",
    "u s": "US",
    "u s a": "US",
    "unitedstates": "US",
    # United Kingdom
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united kingdom of great britain": "GB",
    # Europe, in the local language or an older English name
    "deutschland": "DE",
    "germany federal republic": "DE",
    "west germany": "DE",
    "holland": "NL",
    "nederland": "NL",
    "the netherlands": "NL",
    "espana": "ES",
    "italia": "IT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "osterreich": "AT",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "polska": "PL",
    "belgique": "BE",
    "belgie": "BE",
    "czech republic": "CZ",
    "turkey": "TR",
    "russia": "RU",
    "eire": "IE",
    "hellas": "GR",
    "macedonia": "MK",
    "moldova": "MD",
    # Elsewhere
    "south korea": "KR",
    "korea": "KR",
    "republic of korea": "KR",
    "north korea": "KP",
    "prc": "CN",
    "mainland china": "CN",
    "peoples republic of china": "CN",
    "uae": "AE",
    "emirates": "AE",
    "brasil": "BR",
    "mexico": "MX",
    "vietnam": "VN",
    "ivory coast": "CI",
    "cote divoire": "CI",
    "laos": "LA",
    "syria": "SY",
    "tanzania": "TZ",
    "venezuela": "VE",
    "bolivia": "BO",
    "iran": "IR",
    "taiwan": "TW",
    "hong kong sar": "HK",
    "macau": "MO",
    "burma": "MM",
    "cape verde": "CV",
    "swaziland": "SZ",
    "holy see": "VA",
    "vatican": "VA",
    "ksa": "SA",
    "saudi": "SA",
    "nz": "NZ",
    "aus": "AU",
}

_DROP = re.compile(r"[.'\u2019`]")  # "U.S.A." -> "usa", "Cote d'Ivoire" -> "cote divoire"
_SPACE = re.compile(r"[^a-z0-9]+")


def country_key(text: str) -> str:
    """The comparison key of a country spelling: lower case, no accents or punctuation."""
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).lower()
    key = _SPACE.sub(" ", _DROP.sub("", plain)).strip()
    if key.startswith("the ") and len(key) > 4:
        key = key[4:]
    return key


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    """Comparison key -> alpha-2 for every ISO spelling pycountry knows, then the aliases."""
    index: dict[str, str] = {}
    for attr in ("name", "official_name", "common_name"):
        for c in pycountry.countries:
            value = getattr(c, attr, None)
            if value:
                index.setdefault(country_key(value), c.alpha_2)
    for c in pycountry.countries:  # codes win over a name that happens to look like one
        index[c.alpha_3.lower()] = c.alpha_2
        index[c.alpha_2.lower()] = c.alpha_2
    for alias, code in ALIASES.items():
        index[country_key(alias)] = code
    return index


@lru_cache(maxsize=8192)
def to_alpha2(text: str) -> str | None:
    """ISO 3166-1 alpha-2 code for a country name or code, or None when unknown.

    >>> to_alpha2("U.S.A."), to_alpha2("Deutschland"), to_alpha2("gbr"), to_alpha2("Atlantis")
    ('US', 'DE', 'GB', None)
    """
    if not isinstance(text, str):
        return None
    key = country_key(text)
    if not key:
        return None
    return _index().get(key)
