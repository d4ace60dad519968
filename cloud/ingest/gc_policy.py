"""Garbage collection settings for a process that runs an ingest worker.

Layer: process setup, called once by ``shanshui cloud ingest`` and ``serve``
(and the ingest benchmark) before the worker starts; never by library code.

Why: decoding a batch allocates a few objects per reading (JSON lists, floats,
``Reading`` objects), almost none of them in reference cycles, and frees them
when the batch is committed. With CPython's default first-generation threshold
(700 net allocations) that triggers several collections per batch, each also
walking the long-lived objects of the process: measured with
``bench/b_ingest.py``, more CPU than verifying the batch's signature. Freezing
what exists at start (the imported modules, the settings) and raising the
threshold keeps collection for what it is for, real cycles, at a cost of a few
megabytes of garbage waiting a little longer.
"""

from __future__ import annotations

import gc

#: net allocations between first-generation collections (CPython's default: 700)
GEN0_THRESHOLD = 50_000


def tune_gc_for_ingest() -> None:
    """Freeze the objects alive now and collect less often; see the module docstring."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
