"""Development harness for the eight forecasters: the supervised harness
(``benchmarks.supervised_harness``, which documents what ``prepare`` and ``run`` do) restricted
to the forecasters.

    python -m benchmarks.forecaster_harness prepare --seeds 11 13 21 42 --scale medium   # once
    python -m benchmarks.forecaster_harness run --seeds 11 13 21 42                       # per design

Development seeds only (docs/models.md): never point it at an evaluation seed.
"""

from __future__ import annotations

from benchmarks.supervised_harness import FORECASTERS, main

if __name__ == "__main__":
    main(FORECASTERS, __doc__)
