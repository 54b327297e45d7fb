"""``make docker-test``: build the image, serve a bundle from a container and score in batch mode,
and compare both with scores computed on the host.

    .venv/bin/python docker/smoke_test.py [--image recsys:cpu] [--no-build]

Steps: a tiny DeepFM bundle trained here; ``docker build`` (local base image and this machine's
torch CPU wheel when present, see docker/README.md); ``docker run`` the service on loopback with
the bundle mounted read-only; JSON rows scored over HTTP equal the host's scores (1e-6); 413 and
422 answers; ``docker run IMAGE score`` writes the same Parquet scores as the host's ``recsys
score``; the container is stopped. Prints the image size.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
PORT = 18181


def sh(*cmd: str, **kw: object) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kw)  # type: ignore[call-overload]


def recsys(*args: str) -> None:
    sh(sys.executable, "-m", "pipelines.cli", *args, cwd=ROOT)


LOCAL_BASE = "local/python:3.11"


def traversable_base(base: str) -> str:
    """``base``, or a copy whose root directory is 0755: docker-up's debootstrapped base has a
    0700 root (mktemp -d), which the image's non-root user cannot traverse, and a Dockerfile
    cannot change the mode of ``/`` (layers do not record it)."""
    mode = sh("docker", "run", "--rm", "--network", "none", base, "stat", "-c", "%a", "/",
              capture_output=True).stdout.strip()
    if mode == "755":
        return base
    fixed = f"{base}-755"
    if subprocess.run(["docker", "image", "inspect", fixed], capture_output=True).returncode == 0:
        return fixed
    with tempfile.TemporaryDirectory(prefix="recsys-base-") as tmp:
        name = "recsys-base-export"
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        sh("docker", "create", "--name", name, base, "true", capture_output=True)
        export = subprocess.Popen(["docker", "export", name], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", tmp], stdin=export.stdout, check=True)
        export.wait()
        sh("docker", "rm", name, capture_output=True)
        Path(tmp).chmod(0o755)
        tar = subprocess.Popen(["tar", "-C", tmp, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "import", "-c", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "-", fixed], stdin=tar.stdout, check=True, capture_output=True)
        tar.wait()
    return fixed


def build(image: str) -> None:
    up = ROOT.parent / "shared" / "tools" / "docker-up"
    base = []
    if up.is_file():
        sh(str(up))
        base = ["--build-arg", f"BASE={traversable_base(LOCAL_BASE)}"]
    wheels = ROOT / "docker" / "wheels"
    for whl in glob.glob("/opt/wheels/torch-2.13.0*cpu*.whl"):  # this machine's pip find-links
        if not (wheels / Path(whl).name).is_file():
            shutil.copy(whl, wheels)
    sh("docker", "build", "--network", "host", *base, "-f", "docker/Dockerfile", "-t", image, ".", cwd=ROOT)


def bundle(work: Path) -> tuple[Path, Path]:
    raw = work / "data" / "in.tsv"
    raw.parent.mkdir(parents=True)
    recsys("synth", "--format", "criteo", "--rows", "5000", "--seed", "5", "--out", str(raw))
    recsys("prepare", str(raw), "--format", "criteo", "--out", str(work / "prepared"))
    recsys("train", str(work / "prepared"), "--model", "deepfm", "--out", str(work / "run"), "--epochs", "1",
           "--no-progress", "--set", "dnn_hidden_units=[32]")
    recsys("export", str(work / "run"), "--out", str(work / "bundle"))
    raw.parent.chmod(0o777)  # the container's non-root user writes its scores here
    return work / "bundle", raw


def post(path: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def check_service(image: str, bundle_dir: Path, raw: Path) -> None:
    from recsys.scoring.predictor import Predictor
    from recsys.scoring.rows import json_rows_frame

    name = "recsys-smoke"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    sh("docker", "run", "-d", "--name", name, "--network", "host", "-e", f"RECSYS_PORT={PORT}",
       "-v", f"{bundle_dir}:/model:ro", image, "serve", "/model", "--host", "127.0.0.1", "--max-rows", "100",
       "--workers", "2")
    try:
        from serving.probe import wait_ready

        if not wait_ready(PORT, timeout_s=120):
            sh("docker", "logs", name)
            raise SystemExit("container never became ready")
        names = ["label"] + [f"I{i}" for i in range(1, 14)] + [f"C{i}" for i in range(1, 27)]
        rows = [{k: v for k, v in zip(names, line.split("\t")) if v and k != "label"}
                for line in raw.read_text().splitlines()[:50]]
        status, body = post("/score", json.dumps({"rows": rows}).encode())
        assert status == 200, body
        predictor = Predictor.load(bundle_dir)
        host = predictor.score_typed(json_rows_frame(rows, predictor.features.dataset))
        diff = float(np.abs(np.array(body["scores"]) - host).max())
        print(f"service vs host: {len(rows)} rows, max abs diff {diff:.2e}")
        assert diff <= 1e-6
        status, body = post("/score", json.dumps({"rows": rows * 3}).encode())
        assert status == 413, (status, body)
        status, body = post("/score", json.dumps({"rows": [{"C99": "x"}]}).encode())
        assert status == 422 and "C99" in body["error"], (status, body)
        print("413 (150 rows over --max-rows 100) and 422 (unknown field C99): ok")
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics", timeout=30) as r:
            scored = re.search(r"^recsys_rows_scored_total (\S+)$", r.read().decode(), re.M)
        assert scored is not None and float(scored.group(1)) == len(rows), scored
        print(f"2 worker processes, /metrics sums them: {float(scored.group(1)):.0f} rows scored")
        health = "starting"
        for _ in range(45):  # the first HEALTHCHECK runs after its 30 s interval
            health = subprocess.run(["docker", "inspect", "-f", "{{.State.Health.Status}}", name],
                                    capture_output=True, text=True).stdout.strip()
            if health != "starting":
                break
            time.sleep(2)
        print(f"container health: {health}")
        assert health == "healthy", health
    finally:
        sh("docker", "rm", "-f", name, capture_output=True)


def check_batch(image: str, bundle_dir: Path, raw: Path, work: Path) -> None:
    sh("docker", "run", "--rm", "--network", "none", "-v", f"{bundle_dir}:/model:ro", "-v", f"{raw.parent}:/data",
       image, "score", "/model", "/data/in.tsv", "--format", "criteo", "--out", "/data/scores.parquet")
    recsys("score", str(bundle_dir), str(raw), "--format", "criteo", "--out", str(work / "host_scores.parquet"))
    inside = pl.read_parquet(raw.parent / "scores.parquet")
    host = pl.read_parquet(work / "host_scores.parquet")
    diff = float(np.abs(inside["score"].to_numpy() - host["score"].to_numpy()).max())
    print(f"batch scoring in the image vs host: {inside.height} rows, rows equal: "
          f"{inside['row'].equals(host['row'])}, max abs diff {diff:.2e}")
    assert inside["row"].equals(host["row"]) and diff <= 1e-6


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--image", default="recsys:cpu")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--build-only", action="store_true", help="make docker: build the image and stop")
    a = p.parse_args()
    if not a.no_build:
        build(a.image)
    if a.build_only:
        return
    size = sh("docker", "image", "inspect", "-f", "{{.Size}}", a.image, capture_output=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="recsys-docker-") as tmp:
        work = Path(tmp)
        bundle_dir, raw = bundle(work)
        check_service(a.image, bundle_dir, raw)
        check_batch(a.image, bundle_dir, raw, work)
    print(f"docker-test passed; image {a.image}: {int(size) / 1e6:,.0f} MB")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
