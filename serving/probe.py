"""Waiting for a service to answer ``GET /readyz`` (benchmarks, the Docker smoke test)."""

from __future__ import annotations

import time
import urllib.request
from typing import Callable, Optional


def wait_ready(port: int, timeout_s: float = 120.0, alive: Optional[Callable[[], bool]] = None,
               host: str = "127.0.0.1") -> bool:
    """Poll ``http://host:port/readyz`` until it answers 200 (True), the time is up or
    ``alive()`` says the server is gone (False)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if alive is not None and not alive():
            return False
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.25)
    return False
