"""How many examples a property test draws: all of them in `make test` and CI, a tenth (at least 10) in
`make check`, which sets RELAY_HYPOTHESIS_PROFILE=check to stay fast. A property says its full count:
`@settings(max_examples=examples(300))`."""
from __future__ import annotations

import os

FEWEST = 10


def examples(full: int) -> int:
    if os.environ.get("RELAY_HYPOTHESIS_PROFILE") == "check":
        return max(FEWEST, full // 10)
    return full
