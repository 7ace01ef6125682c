"""Per-batch accounting: counts from each step must add up, and a row lost between steps is named."""

from __future__ import annotations

import pytest

from streaming.accounting import BatchAccountingError, BatchCounts, check, mismatches

# 10 rows: 1 quarantined, 1 repeat within the batch, 1 double read, 2 out of scope, 5 offered of
# which 1 was already a passage: 4 written.
BALANCED = BatchCounts(rows_in=10, quarantined=1, first_deliveries=8, double_reads=1, enriched=7,
                       out_of_scope=2, offered=5, written=4)


def test_a_balanced_batch_counts_repeats_and_rows_already_present_as_duplicates():
    assert mismatches(BALANCED) == []
    check(BALANCED, 3)
    assert (BALANCED.repeats, BALANCED.already_present, BALANCED.duplicates) == (1, 1, 2)


def test_an_empty_batch_balances():
    assert mismatches(BatchCounts(0, 0, 0, 0, 0, 0, 0, 0)) == []


@pytest.mark.parametrize(("change", "phrase"), [
    ({"enriched": 6}, "8 first deliveries less 1 double reads became 6 enriched rows"),  # lost in the join
    ({"enriched": 8}, "8 first deliveries less 1 double reads became 8 enriched rows"),  # multiplied by it
    ({"offered": 4, "written": 4}, "5 in-scope rows became 4 passage rows"),  # lost building passages
    ({"written": 6}, "6 passages written of 5 offered"),
    ({"first_deliveries": 10, "enriched": 9, "offered": 7, "written": 7}, "10 first deliveries from 9 valid rows"),
])
def test_a_row_lost_or_multiplied_between_steps_is_an_error_naming_counts_only(change, phrase):
    counts = BatchCounts(**{**BALANCED.__dict__, **change})
    assert phrase in mismatches(counts)
    with pytest.raises(BatchAccountingError, match=f"batch 7 does not add up: .*{phrase}"):
        check(counts, 7)
