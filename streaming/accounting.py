"""Per-batch accounting of the stream sink: every row read ends in exactly one place.

Each count comes from its own step, so the identity
rows_in = passages_written + duplicates + double_reads + out_of_scope + quarantined
can fail: a row lost or multiplied between two steps (the register join, building passage rows, the
insert) shows as a mismatch instead of being reported as a duplicate.

Limit: the insert is Delta's insert-only MERGE, run as a left anti join of the offered rows against
the table; its metrics (num_inserted_rows here, numSourceRows / numTargetRowsInserted in the table's
history) name no matched-row count, so the rows already present are the offered rows the MERGE did not
insert. A row lost inside Delta's own MERGE would still read as a duplicate; one lost before it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass


class BatchAccountingError(RuntimeError):
    """The counts of a micro-batch's steps do not add up: some rows were lost or multiplied. The
    message holds counts only, never a row."""


@dataclass(frozen=True)
class BatchCounts:
    """Rows of one micro-batch after each step of the sink (all counts of rows, never negative)."""

    rows_in: int  # read from Kafka
    quarantined: int  # rejected by validation
    first_deliveries: int  # valid rows left after dropping repeats within the batch
    double_reads: int  # first deliveries merged into another read's passage
    enriched: int  # first deliveries but double reads, after the register join
    out_of_scope: int  # enriched rows dropped as out of scope, only counted
    offered: int  # passage rows handed to the insert
    written: int  # passages the insert wrote (on a replay: what its first attempt wrote)

    @property
    def repeats(self) -> int:
        """Valid rows dropped as repeated deliveries within the batch."""
        return self.rows_in - self.quarantined - self.first_deliveries

    @property
    def already_present(self) -> int:
        """Offered passages the table already held (an earlier batch's delivery)."""
        return self.offered - self.written

    @property
    def duplicates(self) -> int:
        return self.repeats + self.already_present


def mismatches(c: BatchCounts) -> list[str]:
    """One phrase (counts only) per step whose rows do not add up; empty when the batch balances."""
    found = []
    if c.repeats < 0:
        found.append(f"{c.first_deliveries} first deliveries from {c.rows_in - c.quarantined} valid rows")
    if c.enriched + c.double_reads != c.first_deliveries:
        found.append(f"{c.first_deliveries} first deliveries less {c.double_reads} double reads "
                     f"became {c.enriched} enriched rows")
    if c.offered != c.enriched - c.out_of_scope:
        found.append(f"{c.enriched - c.out_of_scope} in-scope rows became {c.offered} passage rows")
    if not 0 <= c.written <= c.offered:
        found.append(f"{c.written} passages written of {c.offered} offered")
    total = c.written + c.duplicates + c.double_reads + c.out_of_scope + c.quarantined
    if total != c.rows_in:
        found.append(f"{c.rows_in} rows in, {total} accounted for")
    return found


def check(c: BatchCounts, batch_id: int) -> None:
    """Raises BatchAccountingError naming every mismatch when the batch's counts do not add up."""
    found = mismatches(c)
    if found:
        raise BatchAccountingError(f"batch {batch_id} does not add up: {'; '.join(found)}")
