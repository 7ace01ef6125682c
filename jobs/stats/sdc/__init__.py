"""Disclosure control on aggregated cell tables: primary and secondary suppression, audit, noise.

Its public face is what the modules above it use (the published rows, recoding, revisions, the job and its
command), so its inside can change without them; the `sdc-inside` contract of pyproject.toml holds them to
it. Tests reach inside.
"""

from jobs.stats.sdc.cells import PUBLISHED, cell_reasons
from jobs.stats.sdc.noise import apply_noise
from jobs.stats.sdc.protect import ProtectionError
from jobs.stats.sdc.revision import Earlier
from jobs.stats.sdc.tasks import Pending, ZoneJob, protect_zones
from jobs.stats.sdc.zone import ZoneResult, merge_summaries

__all__ = ["PUBLISHED", "Earlier", "Pending", "ProtectionError", "ZoneJob", "ZoneResult", "apply_noise", "cell_reasons",
           "merge_summaries", "protect_zones"]
