"""A plausible postcode-4 -> municipality -> NUTS3 -> province table for the synthetic register.

Synthetic: each block of postcodes gets one representative municipality of its area. The NUTS3 (COROP)
codes, names and provinces are real, so origin tables built on synthetic data look like real ones;
a real load uses the statistics office's own postcode table (docs/register.md).
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from anpr.register_tables import UTC_US

PROVINCES = {"PV20": "Groningen", "PV21": "Fryslân", "PV22": "Drenthe", "PV23": "Overijssel", "PV24": "Flevoland",
             "PV25": "Gelderland", "PV26": "Utrecht", "PV27": "Noord-Holland", "PV28": "Zuid-Holland",
             "PV29": "Zeeland", "PV30": "Noord-Brabant", "PV31": "Limburg"}
NUTS3 = {
    "NL111": ("Oost-Groningen", "PV20"), "NL112": ("Delfzijl en omgeving", "PV20"),
    "NL113": ("Overig Groningen", "PV20"), "NL124": ("Noord-Friesland", "PV21"),
    "NL125": ("Zuidoost-Friesland", "PV21"), "NL126": ("Zuidwest-Friesland", "PV21"),
    "NL131": ("Noord-Drenthe", "PV22"), "NL132": ("Zuidoost-Drenthe", "PV22"), "NL133": ("Zuidwest-Drenthe", "PV22"),
    "NL211": ("Noord-Overijssel", "PV23"), "NL212": ("Zuidwest-Overijssel", "PV23"), "NL213": ("Twente", "PV23"),
    "NL221": ("Veluwe", "PV25"), "NL224": ("Zuidwest-Gelderland", "PV25"), "NL225": ("Achterhoek", "PV25"),
    "NL226": ("Arnhem/Nijmegen", "PV25"), "NL230": ("Flevoland", "PV24"), "NL310": ("Utrecht", "PV26"),
    "NL321": ("Kop van Noord-Holland", "PV27"), "NL323": ("IJmond", "PV27"),
    "NL324": ("Agglomeratie Haarlem", "PV27"), "NL325": ("Zaanstreek", "PV27"),
    "NL327": ("Het Gooi en Vechtstreek", "PV27"), "NL328": ("Alkmaar en omgeving", "PV27"),
    "NL329": ("Groot-Amsterdam", "PV27"), "NL332": ("Agglomeratie 's-Gravenhage", "PV28"),
    "NL333": ("Delft en Westland", "PV28"), "NL337": ("Agglomeratie Leiden en Bollenstreek", "PV28"),
    "NL33A": ("Zuidoost-Zuid-Holland", "PV28"), "NL33B": ("Oost-Zuid-Holland", "PV28"),
    "NL33C": ("Groot-Rijnmond", "PV28"), "NL341": ("Zeeuwsch-Vlaanderen", "PV29"),
    "NL342": ("Overig Zeeland", "PV29"), "NL411": ("West-Noord-Brabant", "PV30"),
    "NL412": ("Midden-Noord-Brabant", "PV30"), "NL413": ("Noordoost-Noord-Brabant", "PV30"),
    "NL414": ("Zuidoost-Noord-Brabant", "PV30"), "NL421": ("Noord-Limburg", "PV31"),
    "NL422": ("Midden-Limburg", "PV31"), "NL423": ("Zuid-Limburg", "PV31"),
}
# First postcode of each block (a block runs to the next one's first), its municipality and NUTS3.
BLOCKS = [
    (1000, "GM0363", "Amsterdam", "NL329"), (1300, "GM0034", "Almere", "NL230"),
    (1400, "GM0402", "Hilversum", "NL327"), (1500, "GM0479", "Zaanstad", "NL325"), (1600, "GM0405", "Hoorn", "NL321"),
    (1800, "GM0361", "Alkmaar", "NL328"), (1900, "GM0453", "Velsen", "NL323"), (2000, "GM0392", "Haarlem", "NL324"),
    (2200, "GM0546", "Leiden", "NL337"), (2400, "GM0484", "Alphen aan den Rijn", "NL33B"),
    (2500, "GM0518", "'s-Gravenhage", "NL332"), (2600, "GM0503", "Delft", "NL333"),
    (2700, "GM0637", "Zoetermeer", "NL332"), (2800, "GM0513", "Gouda", "NL33B"),
    (2900, "GM0599", "Rotterdam", "NL33C"), (3300, "GM0505", "Dordrecht", "NL33A"),
    (3400, "GM0356", "Nieuwegein", "NL310"), (3500, "GM0344", "Utrecht", "NL310"),
    (3600, "GM1904", "Stichtse Vecht", "NL310"), (3700, "GM0355", "Zeist", "NL310"),
    (3800, "GM0307", "Amersfoort", "NL310"), (3900, "GM0345", "Veenendaal", "NL310"),
    (4000, "GM0281", "Tiel", "NL224"), (4200, "GM0512", "Gorinchem", "NL33A"),
    (4300, "GM0687", "Middelburg", "NL342"), (4500, "GM0715", "Terneuzen", "NL341"),
    (4600, "GM0748", "Bergen op Zoom", "NL411"), (4800, "GM0758", "Breda", "NL411"),
    (5000, "GM0855", "Tilburg", "NL412"), (5200, "GM0796", "'s-Hertogenbosch", "NL413"),
    (5300, "GM1842", "Oss", "NL413"), (5500, "GM0772", "Eindhoven", "NL414"), (5700, "GM0794", "Helmond", "NL414"),
    (5800, "GM0983", "Venlo", "NL421"), (6000, "GM0988", "Weert", "NL422"),
    (6100, "GM1883", "Sittard-Geleen", "NL423"), (6200, "GM0935", "Maastricht", "NL423"),
    (6300, "GM0917", "Heerlen", "NL423"), (6500, "GM0268", "Nijmegen", "NL226"), (6600, "GM0228", "Ede", "NL221"),
    (6800, "GM0202", "Arnhem", "NL226"), (6900, "GM0222", "Doetinchem", "NL225"),
    (7300, "GM0200", "Apeldoorn", "NL221"), (7400, "GM0150", "Deventer", "NL212"),
    (7500, "GM0153", "Enschede", "NL213"), (7600, "GM0141", "Almelo", "NL213"),
    (7700, "GM0160", "Hardenberg", "NL211"), (7800, "GM0114", "Emmen", "NL132"), (7900, "GM0119", "Meppel", "NL133"),
    (8000, "GM0193", "Zwolle", "NL211"), (8100, "GM0177", "Raalte", "NL212"), (8200, "GM0995", "Lelystad", "NL230"),
    (8300, "GM0171", "Noordoostpolder", "NL230"), (8400, "GM0074", "Heerenveen", "NL125"),
    (8500, "GM1900", "Súdwest-Fryslân", "NL126"), (8800, "GM0080", "Leeuwarden", "NL124"),
    (9200, "GM0090", "Smallingerland", "NL125"), (9300, "GM0106", "Assen", "NL131"),
    (9500, "GM0037", "Stadskanaal", "NL111"), (9700, "GM0014", "Groningen", "NL113"),
    (9900, "GM1979", "Eemsdelta", "NL112"),
]


def synth_regions(valid_from: datetime) -> pa.Table:
    """One row per postcode 1000-9999, valid from `valid_from` on."""
    rows: dict[str, list] = {k: [] for k in ("postcode4", "gemeente_code", "gemeente_naam", "nuts3_code",
                                             "nuts3_naam", "provincie_code", "provincie_naam")}
    bounds = [b[0] for b in BLOCKS[1:]] + [10_000]
    for (first, code, name, nuts3), end in zip(BLOCKS, bounds, strict=True):
        nuts3_name, province = NUTS3[nuts3]
        for pc4 in range(first, end):
            for column, value in zip(rows, (pc4, code, name, nuts3, nuts3_name, province, PROVINCES[province]),
                                     strict=True):
                rows[column].append(value)
    n = len(rows["postcode4"])
    return pa.table({"postcode4": pa.array(rows.pop("postcode4"), pa.int32()),
                     "valid_from": pa.repeat(pa.scalar(valid_from, UTC_US), n), "valid_to": pa.nulls(n, UTC_US),
                     **{k: pa.array(v, pa.string()) for k, v in rows.items()}})
