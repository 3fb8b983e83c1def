"""Which slot ``next`` hands out: the least-loaded case first (fewest taken slots of the kind), then the oldest, on
both backends; asked one load level at a time, the order must stay exactly that."""

import pytest
from workflow_fixtures import BACKENDS, MANAGER, databaseUrl, makeDataset, openStore, readerMasks, staff

CASES = [f"sub-0{index}_ses-01" for index in range(1, 5)]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    root = makeDataset(tmp_path / "bids", 4)
    store = openStore(databaseUrl(request.param, tmp_path), root)
    staff(store, root)
    store.registerCases(MANAGER)
    store.root = root
    yield store
    store.close()


def claimed(store, userId, role="reader"):
    claim = store.claimNext(userId, role)
    return None if claim is None else (claim["case_id"], claim["slot_index"], claim["resumed"])


def test_first_reads_spread_over_the_cases_oldest_first_before_any_second_read(store):
    assert [claimed(store, reader) for reader in ("R01", "R02", "R03")] == [(CASES[0], 1, False), (CASES[1], 1, False), (CASES[2], 1, False)]
    assert claimed(store, "R01") == (CASES[0], 1, True)  # a held slot comes back
    store.releaseClaim("R02", CASES[1])
    # Case 2 has no taken slot again: it comes before case 4 (untouched, newer) and before any second read.
    assert claimed(store, "R04") == (CASES[1], 1, False)
    assert claimed(store, "R02") == (CASES[3], 1, False)
    store.submitRead("R01", CASES[0], readerMasks(store.root, CASES[0])[0])
    # Every case has one taken slot now: the oldest case R01 did not read.
    assert claimed(store, "R01") == (CASES[1], 2, False)
    store.submitRead("R03", CASES[2], readerMasks(store.root, CASES[2])[0])
    assert claimed(store, "R03") == (CASES[0], 2, False)


def test_reviews_come_oldest_case_first_not_first_compared(store):
    first = {reader: claimed(store, reader)[0] for reader in ("R01", "R02", "R03", "R04")}
    assert list(first.values()) == CASES
    for reader, caseId in first.items():
        store.submitRead(reader, caseId, readerMasks(store.root, caseId)[0])
    second = {reader: claimed(store, reader)[0] for reader in ("R02", "R01", "R04", "R03")}
    assert second == {"R02": CASES[0], "R01": CASES[1], "R04": CASES[2], "R03": CASES[3]}
    for reader in ("R04", "R02"):  # case 3 is compared before case 1
        store.submitRead(reader, second[reader], readerMasks(store.root, second[reader])[1])
    assert claimed(store, "V01", "reviewer") == (CASES[0], 1, False)
    assert claimed(store, "V02", "reviewer") == (CASES[2], 1, False)
    assert claimed(store, "V02", "reviewer") == (CASES[2], 1, True)
