"""Every kind of bad request gets its documented status and a JSON reason; the service stays up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from recsys.scoring.predictor import Predictor
from serving.app import ARROW
from tests.serving.conftest import Client, bundle_for, prepared, raw_rows, typed

GOOD = {"I1": 3, "C1": "68fd1e64"}


@pytest.fixture(scope="module")
def predictor(tiny_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    base = tmp_path_factory.mktemp("bad")
    return Predictor.load(bundle_for(prepared(tiny_raw, base / "data", "criteo"), base, "deepfm", "vocab"))


@pytest.fixture()
def client(predictor: Predictor, serve: Any) -> Client:
    return serve(predictor, max_body_bytes=64 << 10, max_rows=100)


def _still_up(client: Client) -> None:
    assert client.score([GOOD])[0] == 200


@pytest.mark.parametrize("rows,status,words", [
    ([], 422, "no rows"),
    ([GOOD] * 101, 413, "over the limit"),
    ([GOOD, 7], 422, "row 1"),
    ([GOOD, {"C1": "x", "C99": "y"}], 422, "C99"),
    ([{"I1": [1, 2]}], 422, "'I1'"),
    ([{"C2": {"a": 1}}], 422, "'C2'"),
    ([{"I2": "abc"}], 422, "I2"),
    ([{"I3": True}], 422, "I3"),
])
def test_bad_rows_are_answered_with_their_status(client: Client, rows: list[Any], status: int, words: str) -> None:
    got, body = client.score(rows)
    assert got == status and words in body["error"], body
    _still_up(client)


def test_bad_bodies_and_headers(client: Client) -> None:
    assert client.request("POST", "/score", b"{not json", {"Content-Type": "application/json"})[0] == 400
    assert client.request("POST", "/score", b'{"rows": 3}', {"Content-Type": "application/json"})[0] == 422
    assert client.request("POST", "/score", b"rows", {"Content-Type": "text/csv"})[0] == 415
    assert client.request("POST", "/score", b"x" * (65 << 10), {"Content-Type": "application/json"})[0] == 413
    assert client.request("POST", "/score", b"\x00\x01", {"Content-Type": ARROW})[0] == 400
    for length in ("-5", "abc"):
        reply = client.raw(f"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
        assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
    reply = client.raw(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 411"), reply[:80]
    _still_up(client)


def test_chunked_body_over_the_limit_is_refused(client: Client) -> None:
    chunk = b"x" * 40_000
    payload = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(3)) + b"0\r\n\r\n"
    reply = client.raw(b"POST /score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                       b"Content-Type: application/json\r\n\r\n" + payload)
    assert reply.startswith(b"HTTP/1.1 413"), reply[:80]
    _still_up(client)


def test_arrow_requests_score_like_json(client: Client, predictor: Predictor, tiny_raw: Path) -> None:
    rows = raw_rows(tiny_raw, "criteo", 50)
    cols = predictor.features.dataset.columns
    table = pa.table({c: [r.get(c) for r in rows] for c in cols if c != "label"})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    status, body = client.request("POST", "/score", sink.getvalue().to_pybytes(),
                                  {"Content-Type": ARROW, "Accept": ARROW})
    assert status == 200
    scores = pa.ipc.open_stream(body).read_all().column("score").to_numpy()
    assert np.abs(scores - predictor.score_typed(typed(predictor, rows))).max() <= 1e-6


def test_model_fault_gives_500_with_a_body(predictor: Predictor, serve: Any) -> None:
    class Broken(Predictor):
        def score_typed(self, typed: Any, batch_size: int = 65536) -> np.ndarray:
            raise RuntimeError("injected fault")

    broken = Broken(predictor.model, predictor.bundle)
    client = serve(broken)
    status, body = client.score([GOOD])
    assert status == 500 and "injected fault" in body["error"]
    assert client.request("GET", "/healthz")[0] == 200


def test_probes_metadata_and_metrics(client: Client, predictor: Predictor) -> None:
    assert client.request("GET", "/healthz") == (200, {"status": "alive"})
    assert client.request("GET", "/readyz") == (200, {"status": "ready"})
    status, meta = client.request("GET", "/metadata")
    assert status == 200 and meta["model"] == "deepfm" and meta["features_hash"] == predictor.manifest["features_hash"]
    client.score([GOOD, GOOD])
    client.score([])
    status, text = client.request("GET", "/metrics")
    text = text.decode()
    assert status == 200 and 'recsys_requests_total{path="/score",status="422"} 1.0' in text
    assert "recsys_rows_scored_total 2.0" in text and "recsys_request_seconds_bucket" in text
    status, spec = client.request("GET", "/openapi.json")
    assert status == 200 and "/score" in spec["paths"]


def test_few_rows_encode_like_the_vocabulary_hash_map(predictor: Predictor, tiny_raw: Path) -> None:
    """Small requests look ids up by binary search; batch encoding uses a hash map: same ids."""
    import polars as pl

    from recsys.features.fitted import OOV_ID, staged_frame

    features = predictor.features
    rows = raw_rows(tiny_raw, "criteo", 20) + [{"C1": "unseen", "C2": ""}]
    staged = staged_frame(typed(predictor, rows), features.dataset)
    assert staged.height * 64 < features.vocab.height  # the binary-search path
    fast = features.encode_staged(staged)
    for f in features.categorical:
        table = features._table(f.name)
        want = staged[f.name].replace_strict(table[f.name], table["id"], default=OOV_ID, return_dtype=pl.Int32)
        assert fast[f.name].equals(want.alias(f.name)), f.name
    assert fast["C1"][-1] == OOV_ID
