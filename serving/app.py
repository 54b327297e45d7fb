"""``recsys serve BUNDLE_DIR [--host 127.0.0.1] [--port 8080]``: a minimal JSON scoring service.

POST /score with ``{"rows": [{"I1": "3", "C1": "68fd1e64", ...}, ...]}`` (raw values as
strings, the dataset's field names) -> ``{"scores": [p, ...]}``. GET /health -> bundle info.
Standard-library HTTP server: no extra dependency in the serving image.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Sequence

import polars as pl

from recsys.data import raw
from recsys.scoring.predictor import Predictor


def score_rows(predictor: Predictor, rows: list[dict[str, Any]]) -> list[float]:
    """Raw JSON rows -> probabilities, through the same validation and encoding as batch scoring."""
    cfg = predictor.features.dataset
    frame = pl.DataFrame({c: [None if r.get(c) is None else str(r.get(c)) for r in rows]
                          for c in cfg.columns}, schema={c: pl.String for c in cfg.columns})
    frame = frame.with_columns(pl.col(cfg.label).fill_null("0"))
    frame = frame.with_columns(pl.lit("x").alias(raw.LINE), pl.int_range(1, pl.len() + 1).alias(raw.LINE_NO))
    bad = frame.select(raw.reason_expr(cfg, from_text=False).alias(raw.REASON)).to_series()
    if bad.is_not_null().any():
        i = int(bad.is_not_null().arg_max() or 0)
        raise ValueError(f"row {i}: {bad[i]}")
    return predictor.score_typed(raw.typed_columns(frame, cfg)).tolist()


def make_handler(predictor: Predictor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            if self.path == "/health":
                self._send(200, {"model": predictor.manifest["model"], "features_hash": predictor.manifest["features_hash"]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/score":
                self._send(404, {"error": "not found"})
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self._send(200, {"scores": score_rows(predictor, list(body["rows"]))})
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, {"error": str(exc)})

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


def main(argv: Sequence[str]) -> None:
    p = argparse.ArgumentParser(prog="recsys serve", description="Serve click probabilities over HTTP.")
    p.add_argument("bundle", type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    a = p.parse_args(argv)
    server = ThreadingHTTPServer((a.host, a.port), make_handler(Predictor.load(a.bundle)))
    print(f"serving {a.bundle} on http://{a.host}:{a.port} (POST /score, GET /health)")
    server.serve_forever()
