"""Derived register dimensions: RDW, KvK and exemption fields -> the categories the published tables use.

Every function here is pure and vectorized over Arrow arrays; the mappings come from conf/register.toml
(anpr/register_conf.py) and the definitions are documented in docs/register.md. Low-cardinality text
columns are mapped through their distinct values, so a 10-million-row register costs a few passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anpr.register_conf import RegisterConf, ZeToegangConf

BUITENLANDS, ONBEKEND = "Buitenlands", "Onbekend"
BEDRIJF, PARTICULIER = "Bedrijf", "Particulier"
KLEIN, MIDDEN, GROOT = "Klein", "Midden", "Groot"
GEEN, TIJDELIJK, LANGDURIG = "Geen", "Tijdelijk", "Langdurig"
ONTHEFFING_LEVELS = [GEEN, TIJDELIJK, LANGDURIG]  # index = strength: a long-term one wins
TOEGESTAAN, OVERGANG, VERBODEN, ONTHEFFING = "Toegestaan", "Overgang", "Verboden", "Ontheffing"
ZE_STATUSES = [TOEGESTAAN, OVERGANG, VERBODEN, ONTHEFFING, ONBEKEND]  # ze_toegang values
ZERO_EMISSION = "Z"
FUEL_GROUP_ZERO_EMISSION = "Emissievrij"  # brandstofgroep of the zero-emission fuels (zero_emission_fuels)
FUEL_SEPARATOR = "|"  # a vehicle's fuels in brandstof_volgnummer order, e.g. "Benzine|Elektriciteit"
# ze_toegang sentinels in days since 1970-01-01: access on every date, or rules cannot tell.
ALWAYS = np.iinfo(np.int32).max
UNKNOWN = np.iinfo(np.int32).min

# SBI 2008 sections by division (first two digits), with the statistics office's short names.
SBI_SECTIONS = [
    ("A", 1, 3, "Landbouw, bosbouw en visserij"), ("B", 5, 9, "Delfstoffenwinning"),
    ("C", 10, 33, "Industrie"), ("D", 35, 35, "Energievoorziening"),
    ("E", 36, 39, "Waterbedrijven en afvalbeheer"), ("F", 41, 43, "Bouwnijverheid"),
    ("G", 45, 47, "Handel"), ("H", 49, 53, "Vervoer en opslag"),
    ("I", 55, 56, "Logies-, maaltijd- en drankverstrekking"), ("J", 58, 63, "Informatie en communicatie"),
    ("K", 64, 66, "Financiële dienstverlening"), ("L", 68, 68, "Verhuur en handel van onroerend goed"),
    ("M", 69, 75, "Specialistische zakelijke diensten"), ("N", 77, 82, "Verhuur en overige zakelijke diensten"),
    ("O", 84, 84, "Openbaar bestuur en overheidsdiensten"), ("P", 85, 85, "Onderwijs"),
    ("Q", 86, 88, "Gezondheids- en welzijnszorg"), ("R", 90, 93, "Cultuur, sport en recreatie"),
    ("S", 94, 96, "Overige dienstverlening"), ("T", 97, 98, "Huishoudens"),
    ("U", 99, 99, "Extraterritoriale organisaties"),
]
_ROMAN = {"VI": 6, "V": 5, "IV": 4, "III": 3, "II": 2, "I": 1}
# Euro classes as the RDW and EU write them, upper-cased, tried in this order: a class standing alone or
# after "EURO " ("6", "EURO VI C", "EURO 6 W"); a field that is only a digit and its suffix ("6d-TEMP");
# after "EURO" (any separator or none) a digit with any suffix ("EURO6", "EURO 6d-TEMP", "EURO 5B") or a
# Roman numeral with at most a step letter A-E ("EURO VIE", "EURO VIC"); EEV (Enhanced Environmentally
# friendly Vehicle, heavy duty between Euro V and VI) as Euro V. Euro 7 and above are no class here
# (emissieklasse is Euro 0..6 or Z).
_EURO_NAMED = re.compile(r"\bEURO[\s._-]*(?:([0-6])(?!\d)|(VI|IV|V|III|II|I)[A-E]?(?![A-Z0-9]))")
_EURO = re.compile(r"(?:EURO\s*)?\b([0-6]|VI|IV|V|III|II|I)\b")
_EURO_BARE = re.compile(r"\s*([0-6])[\s._-]*[A-Z][A-Z0-9._-]*\s*")
_EEV = re.compile(r"\bEEV\b")


# -- vectorizing helpers ------------------------------------------------------------------------------

def map_distinct(values: pa.Array | pa.ChunkedArray, fn: Callable[[object], object],
                 out_type: pa.DataType | None = None) -> pa.Array:
    """fn applied to each distinct value once (nulls included), spread back over the rows."""
    out_type = out_type or pa.string()
    encoded = pc.dictionary_encode(_flat(values), null_encoding="encode")
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], out_type)
    return mapped.take(encoded.indices)


def lookup(values: pa.Array | pa.ChunkedArray, mapping: Mapping[str, str]) -> pa.Array:
    keys = pa.array(list(mapping), pa.string())
    return pa.array(list(mapping.values()), pa.string()).take(pc.index_in(_flat(values), value_set=keys))


def clean_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Trimmed text, empty -> null (RDW exports leave fields empty rather than null)."""
    text = pc.utf8_trim_whitespace(pc.cast(_flat(values), pa.string()))
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def _flat(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


# -- scalar parsers for the exports' quirks -----------------------------------------------------------

def parse_date(text: object) -> date | None:
    """yyyymmdd (RDW exports), yyyy-mm-dd[Thh:mm..] (API), dd-mm-yyyy, or mm/dd/yyyy hh:mm AM (Socrata)."""
    if text is None:
        return None
    s = str(text).strip()
    if m := re.fullmatch(r"(\d{4})(\d{2})(\d{2})(?:\.0+)?", s) or re.match(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", s):
        y, mo, d = m.groups()
    elif m := re.match(r"(\d{1,2})/(\d{1,2})/(\d{4}) .*[AP]M$", s):
        mo, d, y = m.groups()
    elif m := re.fullmatch(r"(\d{1,2})[-/](\d{1,2})[-/](\d{4})", s):
        d, mo, y = m.groups()
    else:
        return None
    try:
        return date(int(y), int(mo), int(d))
    except ValueError:
        return None


def parse_int(text: object) -> int | None:
    """An integer, tolerating thousands separators and a decimal tail ("3.500", "3500.0", "3 500")."""
    if text is None:
        return None
    s = re.sub(r"[\s.](?=\d{3}\b)", "", str(text).strip())
    match = re.match(r"-?\d+", s)
    return int(match.group()) if match else None


def parse_employees(text: object) -> int | None:
    """werkzame personen as a number or a size class ("10-19", "2000+", "10 tot 20"): its lower bound."""
    return parse_int(text)


def parse_euro(text: object) -> int | None:
    """Euro class from emissiecode_omschrijving ("6") or uitlaatemissieniveau ("EURO VI C", "EURO 6 W",
    "EURO6", "Euro 6d-TEMP", "EURO VIE"; "EEV" -> 5): the class number 0..6, None when there is none."""
    if text is None:
        return None
    s = str(text).upper()
    if match := _EURO.search(s) or _EURO_BARE.fullmatch(s):
        token = match.group(1)
        return int(token) if token.isdigit() else _ROMAN[token]
    if match := _EURO_NAMED.search(s):
        return int(match.group(1)) if match.group(1) else _ROMAN[match.group(2)]
    return 5 if _EEV.search(s) else None


def euro_of(emissieklasse: object) -> int | None:
    if not isinstance(emissieklasse, str) or not emissieklasse.startswith("Euro "):
        return None
    return int(emissieklasse.removeprefix("Euro "))


def sbi_digits(text: object) -> str | None:
    digits = re.sub(r"\D", "", str(text)) if text is not None else ""
    return digits if len(digits) >= 2 else None


# -- vehicle dimensions -------------------------------------------------------------------------------

def voertuig_type(eu_categorie: pa.Array, voertuigsoort: pa.Array, max_massa: pa.Array,
                  conf: RegisterConf) -> pa.Array:
    """Bestelauto | Vrachtauto | Personenauto | Bus | Overig, from the EU category, else the RDW kind."""
    c = conf.voertuig_type
    category = lookup(pc.utf8_slice_codeunits(pc.utf8_upper(clean_text(eu_categorie)), 0, 2), c.eu_categorie)
    kind = clean_text(voertuigsoort)
    by_kind = lookup(kind, c.voertuigsoort)
    light = pc.less_equal(pc.cast(max_massa, pa.int64()), c.bestelauto_max_massa_kg)
    by_mass = pc.if_else(light, pa.scalar("Bestelauto"), pa.scalar("Vrachtauto"))
    by_kind = pc.if_else(pc.fill_null(pc.is_in(kind, pa.array(c.bedrijfsauto, pa.string())), False),
                         by_mass, by_kind)
    return pc.coalesce(category, by_kind, pa.scalar(c.anders))


def zero_emission_fuels(conf: RegisterConf) -> list[str]:
    """The typeBrandstof labels of the zero-emission fuels (conf/register.toml [brandstof] emissievrij): the
    fuels global recoding publishes together as FUEL_GROUP_ZERO_EMISSION (anpr/catalogue.py RECODES)."""
    b = conf.brandstof
    return sorted({b.labels.get(f, f) for f in b.emissievrij})


def fuel_label(profile: str | None, conf: RegisterConf) -> str | None:
    """typeBrandstof of a fuel profile ("Benzine|LPG"): zero emission, hybrid, bi-fuel, else the first fuel."""
    fuels = [f for f in (profile or "").split(FUEL_SEPARATOR) if f]
    if not fuels:
        return None
    b = conf.brandstof
    clean = [f for f in fuels if f in b.emissievrij]
    if len(clean) == len(fuels):
        return b.labels.get("Waterstof", "Waterstof") if "Waterstof" in clean else b.labels.get(clean[0], b.anders)
    if clean:
        return b.hybride
    preferred = [f for f in b.voorrang if f in fuels]
    return b.labels.get(preferred[0] if preferred else fuels[0], b.anders)


def emission_label(profile: str | None, euro: int | None, conf: RegisterConf) -> str | None:
    """Z when every fuel is zero emission; else "Euro <n>" from the fuel rows; None when unknown."""
    fuels = [f for f in (profile or "").split(FUEL_SEPARATOR) if f]
    if fuels and all(f in conf.brandstof.emissievrij for f in fuels):
        return ZERO_EMISSION
    return None if euro is None else f"Euro {euro}"


def brandstof(profiles: pa.Array, conf: RegisterConf) -> pa.Array:
    return map_distinct(profiles, lambda p: fuel_label(p, conf))  # type: ignore[arg-type]


def emissieklasse(profiles: pa.Array, euro: pa.Array, conf: RegisterConf) -> pa.Array:
    key = pc.binary_join_element_wise(pc.fill_null(profiles, ""), pc.fill_null(pc.cast(euro, pa.string()), ""), "#")

    def label(k: object) -> str | None:
        profile, _, number = str(k).partition("#")
        return emission_label(profile, int(number) if number else None, conf)

    return map_distinct(key, label)


def carrosserie(code: pa.Array, omschrijving: pa.Array, inrichting: pa.Array, conf: RegisterConf) -> pa.Array:
    """typeCarrosserie: the EU body code, its family, the body description, then inrichting."""
    c = conf.carrosserie
    code = pc.utf8_upper(clean_text(code))
    family = lookup(pc.utf8_slice_codeunits(code, 0, 1), c.code_families)
    by_text = {k.lower(): v for k, v in c.inrichting.items()}
    described = lookup(pc.utf8_lower(clean_text(omschrijving)), by_text)
    fitted = lookup(pc.utf8_lower(clean_text(inrichting)), by_text)
    given = pc.or_(pc.or_(pc.is_valid(code), pc.is_valid(clean_text(omschrijving))),
                   pc.is_valid(clean_text(inrichting)))
    other = pc.if_else(given, pa.scalar(c.anders), pa.scalar(None, pa.string()))
    return pc.coalesce(lookup(code, c.codes), family, described, fitted, other)


# -- owner dimensions ---------------------------------------------------------------------------------

def eigenaar_type(soort: pa.Array, kvk: pa.Array, conf: RegisterConf) -> pa.Array:
    stated = lookup(pc.utf8_lower(clean_text(soort)), conf.eigenaar.soorten)
    implied = pc.if_else(pc.is_valid(clean_text(kvk)), pa.scalar(BEDRIJF), pa.scalar(PARTICULIER))
    return pc.coalesce(stated, implied)


def sbi_sectie(code: object) -> tuple[str, str] | None:
    digits = sbi_digits(code)
    if digits is None:
        return None
    division = int(digits[:2])
    for letter, first, last, name in SBI_SECTIONS:
        if first <= division <= last:
            return letter, name
    return None


def sbi_sectie_naam(letter: str) -> str | None:
    """The statistics office's short name of an SBI 2008 section (its letter), None for anything else."""
    return next((name for code, _, _, name in SBI_SECTIONS if code == letter), None)


def sbi_afdeling_naam(division: str, conf: RegisterConf) -> str | None:
    """SBI08Omschrijving of a division ("49"): its configured name (conf/register.toml [sbi]), else
    "SBI-afdeling 63 (sectie J: Informatie en communicatie)"; None for a division in no SBI 2008 section."""
    named = conf.sbi.naam(division)
    if named is not None:
        return named
    section = sbi_sectie(division)
    return None if section is None else f"SBI-afdeling {division} (sectie {section[0]}: {section[1]})"


def sbi_afdeling(code: object, conf: RegisterConf) -> tuple[str, str] | None:
    """SBI08GroepCode and SBI08Omschrijving: the SBI 2008 afdeling (division, the code's first two digits)
    and its name, one level for every company ("43221" -> "43"); None for no code, fewer than two digits,
    or a division in no section (the tables then say Onbekend)."""
    digits = sbi_digits(code)
    if digits is None:
        return None
    name = sbi_afdeling_naam(digits[:2], conf)
    return None if name is None else (digits[:2], name)


def bedrijfsgrootte(employees: int | None, conf: RegisterConf) -> str | None:
    if employees is None or employees < 0:
        return None
    g = conf.bedrijfsgrootte
    return KLEIN if employees < g.klein_tot else GROOT if employees >= g.groot_vanaf else MIDDEN


def ontheffing_soort(soort: pa.Array, conf: RegisterConf) -> pa.Array:
    return lookup(pc.utf8_lower(clean_text(soort)), conf.ontheffing.soorten)


# -- ZE-zone access -----------------------------------------------------------------------------------

def days(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def ze_toegang_tot(types: pa.Array, klassen: pa.Array, eerste_toelating: pa.Array, bodies: pa.Array,
                   conf: RegisterConf) -> np.ndarray:
    """Per vehicle the first day (days since 1970) without access; ALWAYS or UNKNOWN as sentinels.

    UNKNOWN for a subject, non-zero-emission vehicle without a Euro class, and for one without a first
    admission date whose answer depends on that date: the rules are applied for every possible date (one
    per interval between the rules' date bounds) and give a day only when all of them give the same one.
    """
    z = conf.ze_toegang
    n = len(types)
    euro = np.asarray(pc.fill_null(map_distinct(klassen, lambda k: euro_of(k), pa.int8()), -1), dtype=np.int8)
    zero = np.asarray(pc.fill_null(pc.equal(klassen, ZERO_EMISSION), False))
    det = np.asarray(pc.fill_null(pc.cast(pc.cast(eerste_toelating, pa.date32()), pa.int32()), UNKNOWN))
    subject = np.asarray(pc.fill_null(pc.is_in(types, pa.array(z.onderworpen, pa.string())), False))
    out = np.full(n, ALWAYS, dtype=np.int32)
    open_ = subject & ~zero
    out[open_ & (euro < 0)] = UNKNOWN
    open_ &= euro >= 0
    dated = np.flatnonzero(open_ & (det != UNKNOWN))
    out[dated] = _first_rule(z, types.take(dated), bodies.take(dated), euro[dated], det[dated])
    undated = np.flatnonzero(open_ & (det == UNKNOWN))
    if len(undated):
        kinds, shapes, classes = types.take(undated), bodies.take(undated), euro[undated]
        answers = [_first_rule(z, kinds, shapes, classes, np.full(len(undated), day, dtype=np.int32))
                   for day in _possible_admissions(z)]
        out[undated] = np.where(np.all([a == answers[0] for a in answers], axis=0), answers[0], UNKNOWN)
    return out


def _first_rule(z: ZeToegangConf, types: pa.Array, bodies: pa.Array, euro: np.ndarray, det: np.ndarray) -> np.ndarray:
    """toegang_tot of the first rule each vehicle matches (known first admission dates), else z.ingang."""
    out = np.full(len(euro), days(z.ingang), dtype=np.int32)
    open_ = np.ones(len(euro), dtype=bool)
    for rule in z.regels:
        hit = open_ & _matches(rule, types, bodies, euro, det)
        out[hit] = days(rule.toegang_tot)
        open_ &= ~hit
    return out


def _possible_admissions(z: ZeToegangConf) -> list[int]:
    """One first admission day (days since 1970) per interval the rules' date bounds cut the calendar into:
    every date of an interval matches the same rules, so these answer for every possible date."""
    bounds = sorted({days(d) for rule in z.regels
                     for d in (rule.eerste_toelating_vanaf, rule.eerste_toelating_voor) if d is not None})
    return [bounds[0] - 1, *bounds] if bounds else [0]


def _matches(rule, types: pa.Array, bodies: pa.Array, euro: np.ndarray, det: np.ndarray) -> np.ndarray:  # noqa: ANN001
    hit = np.ones(len(euro), dtype=bool)
    if rule.voertuig_type is not None:
        hit &= _is_in(types, rule.voertuig_type)
    if rule.carrosserie is not None:
        hit &= _is_in(bodies, rule.carrosserie)
    if rule.euro_min is not None:
        hit &= euro >= rule.euro_min
    if rule.euro_max is not None:
        hit &= euro <= rule.euro_max
    if rule.eerste_toelating_vanaf is not None:
        hit &= det >= days(rule.eerste_toelating_vanaf)
    if rule.eerste_toelating_voor is not None:
        hit &= det < days(rule.eerste_toelating_voor)
    return hit


def _is_in(values: pa.Array, allowed: Iterable[str]) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.is_in(values, pa.array(list(allowed), pa.string())), False))


ALTIJD = "Altijd"  # ze_toegang_tot of a vehicle no rule will ever bar: zero emission, or not subject


def ze_toegang_tot_labels(toegang_tot: np.ndarray) -> pa.Array:
    """ze_toegang_tot per vehicle: the first local day without access as YYYY-MM-DD (past or future),
    Altijd (ALWAYS) or Onbekend (UNKNOWN); from `ze_toegang_tot`'s days since 1970."""
    day = pa.array(np.where((toegang_tot == ALWAYS) | (toegang_tot == UNKNOWN), 0, toegang_tot).astype(np.int32))
    text = pc.strftime(pc.cast(day, pa.date32()), format="%Y-%m-%d")
    text = pc.if_else(pa.array(toegang_tot == ALWAYS), pa.scalar(ALTIJD), text)
    return pc.if_else(pa.array(toegang_tot == UNKNOWN), pa.scalar(ONBEKEND), text)


@dataclass(frozen=True)
class Dates:
    """The dated categories of zeToegangTot (YYYY-MM-DD) after `after` and through `through` (ISO dates), and
    the categories in `also`: a containment's side that a table's categories are tested against (`in`)."""

    after: str = ""
    through: str = "9999-12-31"
    also: tuple[str, ...] = ()

    def __contains__(self, value: object) -> bool:
        if value in self.also:
            return True
        return isinstance(value, str) and len(value) == 10 and value[4] == "-" and self.after < value <= self.through


# Passages of the first categories are among those of the second, as ze_status defines ZE access from the
# same day's exemption level that `ontheffing` publishes: Ontheffing needs an exemption that day, and
# Verboden and Onbekend hold only without one. Containments, not equalities (Toegestaan and Overgang
# passages may be exempt too), so the audit bounds one side by the other (jobs/stats/sdc/relations.py).
Containment = tuple[tuple[str, Container[object]], tuple[str, Container[object]]]
CONTAINMENTS: tuple[Containment, ...] = (
    (("ze_toegang", (ONTHEFFING,)), ("ontheffing", (TIJDELIJK, LANGDURIG))),
    (("ze_toegang", (VERBODEN, ONBEKEND)), ("ontheffing", (GEEN,))),
)
# Nor is any of them a passage of a vehicle whose access never ends: ze_status makes each of its passages
# Toegestaan, exemption or not. Where a table shows every vehicle of a category with it (5.4: all of them
# Personenauto), the outer side leaves that category out (5.2's exempt Personenauto passages).
NEVER_INSIDE = ("ze_toegang_tot", ALTIJD)


def access_containments(first: date, last: date) -> tuple[Containment, ...]:
    """A month's (its first and last day) ZE access on the day against the day access ends (ze_status): a
    Verboden passage is of a vehicle whose access ended on or before that day, so by the month's end; an
    Overgang one of a vehicle whose access ends after that day, so after the month's first; Onbekend ones of
    vehicles without a known date; Ontheffing ones of either barred kind."""
    by_end, after_start = Dates(through=last.isoformat()), Dates(after=first.isoformat())
    return ((("ze_toegang", (VERBODEN,)), ("ze_toegang_tot", by_end)),
            (("ze_toegang", (OVERGANG,)), ("ze_toegang_tot", after_start)),
            (("ze_toegang", (ONBEKEND,)), ("ze_toegang_tot", (ONBEKEND,))),
            (("ze_toegang", (ONTHEFFING,)), ("ze_toegang_tot", replace(by_end, also=(ONBEKEND,)))))


def ze_status(toegang_tot: np.ndarray, on_day: np.ndarray, exemption: np.ndarray) -> np.ndarray:
    """Status codes (index into ZE_STATUSES) of vehicles on given days, exemption level 0..2 per row."""
    allowed_for_good = toegang_tot == ALWAYS
    unknown = toegang_tot == UNKNOWN
    in_transition = ~allowed_for_good & ~unknown & (on_day < toegang_tot)
    status = np.full(len(toegang_tot), ZE_STATUSES.index(VERBODEN), dtype=np.int8)
    status[unknown] = ZE_STATUSES.index(ONBEKEND)
    status[in_transition] = ZE_STATUSES.index(OVERGANG)
    status[allowed_for_good] = ZE_STATUSES.index(TOEGESTAAN)
    barred = (status == ZE_STATUSES.index(VERBODEN)) | unknown
    status[barred & (exemption > 0)] = ZE_STATUSES.index(ONTHEFFING)
    return status

