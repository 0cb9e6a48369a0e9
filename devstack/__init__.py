"""The local stack: the router with real embedded parts and local model servers, no Docker."""

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
# The Lambda code and the model server are import roots of their own (as in their packages).
for _p in (_ROOT / "containers", _ROOT / "lambdas"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
