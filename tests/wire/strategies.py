"""Hypothesis strategies for telemetry batches and for hostile input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from wire import Batch, Quality, Reading
from wire.batch import MAX_SEQ, MAX_TIME_MS, MIN_TIME_MS

IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", fullmatch=True)
TIMES_MS = st.integers(MIN_TIME_MS, MAX_TIME_MS)
VALUES = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63)
QUALITIES = st.sampled_from(Quality)
SECRETS = st.binary(min_size=16, max_size=64)

readings = st.builds(Reading, IDS, IDS, TIMES_MS, VALUES, QUALITIES)
batches = st.builds(
    Batch,
    gateway_id=IDS,
    seq=st.integers(0, MAX_SEQ),
    readings=st.lists(readings, max_size=12).map(tuple),
)

# readings a full outbox thinned to means, next to raw ones
MEANS_OF = st.integers(2, 2**31 - 1)
mixed_readings = readings | st.builds(Reading, IDS, IDS, TIMES_MS, VALUES, QUALITIES, MEANS_OF)
mixed_batches = st.builds(
    Batch,
    gateway_id=IDS,
    seq=st.integers(0, MAX_SEQ),
    readings=st.lists(mixed_readings, max_size=12).map(tuple),
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


def dumps(value: Any) -> bytes:
    """JSON as a careless or hostile sender might write it (NaN allowed, non-ASCII kept)."""
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


# Objects shaped like a batch or an envelope, with some values wrong, so that fuzzing
# reaches the field checks instead of stopping at "not a JSON object".
near_readings = st.lists(
    st.one_of(
        st.tuples(IDS, IDS, TIMES_MS, VALUES, st.sampled_from(list("NFMSDCTB"))).map(list),
        st.lists(json_values, max_size=6),
        st.tuples(json_values, IDS, TIMES_MS, VALUES, st.just("N")).map(list),
        st.tuples(IDS, IDS, json_values, VALUES, st.just("N")).map(list),
        st.tuples(IDS, IDS, TIMES_MS, json_values, st.just("N")).map(list),
        st.tuples(IDS, IDS, TIMES_MS, VALUES, json_values).map(list),
    ),
    max_size=4,
)
near_batches = st.fixed_dictionaries(
    {
        "v": st.just(1) | json_values,
        "gw": IDS | json_values,
        "seq": st.integers(0, MAX_SEQ) | json_values,
        "r": near_readings | json_values,
    },
    optional={"x": json_values},
)
near_envelopes = st.fixed_dictionaries(
    {
        "v": st.just(1) | json_values,
        "alg": st.just("HS256") | json_values,
        "gw": IDS | json_values,
        "sig": st.text("0123456789abcdefABCDEF \u0660", min_size=60, max_size=66) | json_values,
        "body": near_batches.map(lambda b: dumps(b).decode("utf-8", "surrogatepass")) | json_values,
    },
    optional={"extra": json_values},
)
