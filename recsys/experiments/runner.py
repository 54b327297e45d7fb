"""Run a :class:`~recsys.experiments.study.Study` on Ray Tune: each trial is a normal RUN_DIR.

    EXP_DIR/
      study.json       the study as run: dataset, trials, drawn search configurations
      data/            the prepared DATA_DIR (raw or synth datasets; reused on resume)
      runs/CONFIG/seed-S/   one RUN_DIR per trial (recsys export works on it as is)
      trials.json      every trial's status: finished | stopped (ASHA) | failed (+ one-line error)
      leaderboard.csv, leaderboard.md, report.html

Trials run ``concurrent`` at a time on the local Ray (or ``address``), each with
``cores // concurrent`` CPUs and as many torch threads. The grid runs first (FIFO), then the
search under ASHA, which reads each epoch's validation metric as the trial reports it. A
resumed study (same command, same EXP_DIR) runs only what has no status yet or failed.
"""

from __future__ import annotations

import dataclasses
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from recsys.errors import ConfigError
from recsys.experiments.study import DatasetSpec, Study, Trial, load_study
from recsys.files import write_json_atomic, write_text_atomic
from recsys.training.callbacks import Callback

FINISHED, STOPPED, FAILED = "finished", "stopped", "failed"


@dataclass
class StudyResult:
    exp_dir: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    status: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_dir_of(exp_dir: Path, trial: Trial) -> Path:
    return exp_dir / "runs" / trial.config / f"seed-{trial.seed}"


# ---- the dataset ------------------------------------------------------------------------
def study_data(spec: DatasetSpec, exp_dir: Path) -> Path:
    """The study's DATA_DIR: the given one, or ``EXP_DIR/data`` prepared once from raw or synth."""
    from recsys.data.dataset_dir import open_dataset

    if spec.data_dir is not None:
        open_dataset(spec.data_dir)
        return spec.data_dir
    data = exp_dir / "data"
    if (data / "dataset.json").is_file():
        return data
    from recsys.data.prepare import prepare_dataset
    from recsys.features.spec import SplitConfig, load_dataset_config

    inputs = list(spec.raw)
    if spec.synth is not None:
        from recsys.data.synth import write_synthetic

        raw = exp_dir / "raw" / f"{spec.format}.txt"
        raw.parent.mkdir(parents=True, exist_ok=True)
        if not Path(f"{raw}.truth.json").is_file():
            write_synthetic(spec.format, int(spec.synth["rows"]), raw, int(spec.synth.get("seed", 0)))
        inputs = [raw]
    cfg = load_dataset_config(spec.config or spec.format)
    if spec.split or spec.seed is not None:
        cfg = dataclasses.replace(cfg, split=SplitConfig(spec.split or cfg.split.method,  # type: ignore[arg-type]
                                                         cfg.split.ratios,
                                                         spec.seed if spec.seed is not None else cfg.split.seed))
    if spec.min_count is not None:
        cfg = dataclasses.replace(cfg, min_count=spec.min_count)
    prepare_dataset(inputs, cfg, data, spec.format)
    return data


# ---- the study's record -----------------------------------------------------------------
def read_status(exp_dir: Path) -> dict[str, dict[str, Any]]:
    import json

    path = exp_dir / "trials.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _check_same_dataset(exp_dir: Path, study: Study) -> Optional[list[dict[str, Any]]]:
    """The search configurations drawn by an earlier run of this EXP_DIR (None: first run);
    an EXP_DIR of another dataset is refused."""
    import json

    path = exp_dir / "study.json"
    if not path.is_file():
        return None
    old = json.loads(path.read_text())
    if old["dataset"] != study.dataset.to_json():
        raise ConfigError(f"{exp_dir}: holds a study on another dataset ({old['dataset']}); choose another --out")
    return old.get("search_configs")


def _write_study(exp_dir: Path, study: Study) -> None:
    write_json_atomic(exp_dir / "study.json", {
        "name": study.name, "file": study.source.get("file"), "dataset": study.dataset.to_json(),
        "search": dataclasses.asdict(study.search) if study.search else None,
        "search_configs": study.source.get("search_configs"), "trials": [t.to_json() for t in study.trials]})


def load_for_exp_dir(study_file: Path, exp_dir: Path) -> Study:
    """Parse the study; on resume keep the search configurations drawn the first time."""
    study = load_study(study_file)
    drawn = _check_same_dataset(exp_dir, study)
    return load_study(study_file, drawn) if drawn is not None and study.search else study


# ---- a trial, inside a Ray worker -------------------------------------------------------
class _EpochReporter(Callback):
    """Reports each epoch's validation metrics to Ray Tune (ASHA decides on them)."""

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        from ray import tune

        tune.report({"epoch": epoch + 1, "val_auc": metrics["val_auc"], "val_logloss": metrics["val_logloss"]})


def run_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: one RUN_DIR; errors become a one-line ``error`` result."""
    from ray import tune

    from recsys.training.job import run_training
    from recsys.training.runconfig import RunConfig

    t, run_dir = config["trial"], Path(config["trial"]["run_dir"])
    start = time.perf_counter()
    try:
        m = run_training(Path(t["data_dir"]), run_dir, RunConfig.from_json(t["cfg"]), progress=False,
                         callbacks=[_EpochReporter()])
    except Exception as exc:  # noqa: BLE001  (any failure is recorded; the study goes on)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "error.txt", traceback.format_exc())
        tune.report({"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                     "seconds": time.perf_counter() - start})
        return
    tune.report({"finished": True, "val_auc": m["val"]["auc"], "val_logloss": m["val"]["logloss"],
                 "test_auc": m["test"]["auc"], "test_logloss": m["test"]["logloss"],
                 "seconds": time.perf_counter() - start})


# ---- the driver -------------------------------------------------------------------------
def _status_of(last: dict[str, Any]) -> dict[str, Any]:
    keep: dict[str, Any] = {k: last[k] for k in ("val_auc", "val_logloss", "test_auc", "seconds", "epoch") if k in last}
    if "error" in last:
        return {"status": FAILED, "error": last["error"], **keep}
    if last.get("finished"):
        return {"status": FINISHED, **keep}
    return {"status": STOPPED, **keep}


def _ledger_callback(exp_dir: Path, status: dict[str, dict[str, Any]], total: int) -> Any:
    """A Ray Tune callback that records every trial's outcome in ``trials.json`` as it ends."""
    from ray import tune

    class Ledger(tune.Callback):
        def __init__(self) -> None:
            self.last: dict[str, dict[str, Any]] = {}

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.last[trial.trial_id] = dict(result)

        def _record(self, trial: Any, entry: dict[str, Any]) -> None:
            tid = trial.config["trial"]["id"]
            status[tid] = entry
            write_json_atomic(exp_dir / "trials.json", status)
            done = len(status)
            extra = (f"test AUC {entry['test_auc']:.4f}" if entry["status"] == FINISHED else
                     entry.get("error") or f"val AUC {entry.get('val_auc', float('nan')):.4f} at epoch "
                     f"{entry.get('epoch', 0)}")
            print(f"[{done}/{total}] {tid}: {entry['status']}, {extra}", flush=True)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._record(trial, _status_of(self.last.get(trial.trial_id, {})))

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self._record(trial, {"status": FAILED, "error": "the trial's process died (see EXP_DIR/ray/)"})

    return Ledger()


def _trial_payload(trial: Trial, exp_dir: Path, data_dir: Path, threads: int) -> dict[str, Any]:
    cfg = trial.cfg
    if cfg.train.threads is None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=threads))
    return {"id": trial.id, "run_dir": str(run_dir_of(exp_dir, trial).resolve()),
            "data_dir": str(data_dir.resolve()), "cfg": cfg.to_json()}


def _tune(trials: list[Trial], study: Study, exp_dir: Path, data_dir: Path, concurrent: int, threads: int,
          status: dict[str, dict[str, Any]], total: int, asha: bool) -> None:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    scheduler: Any = FIFOScheduler()
    if asha and study.search is not None:
        s = study.search
        # max_t one past the last epoch: ASHA never stops a trial at its last epoch before it
        # evaluates on test and writes metrics.json.
        scheduler = ASHAScheduler(time_attr="epoch", metric=s.metric, mode=s.mode, max_t=s.max_epochs + 1,
                                  grace_period=s.grace_period, reduction_factor=s.reduction_factor)
    tuner = tune.Tuner(
        tune.with_resources(run_trial, {"cpu": threads}),
        param_space={"trial": tune.grid_search([_trial_payload(t, exp_dir, data_dir, threads) for t in trials])},
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=concurrent,
                                    trial_dirname_creator=lambda tr: tr.trial_id),
        run_config=tune.RunConfig(name="search" if asha else "runs", storage_path=str((exp_dir / "ray").resolve()),
                                  verbose=0, callbacks=[_ledger_callback(exp_dir, status, total)]),
    )
    tuner.fit()
    missing = [t.id for t in trials if t.id not in status]
    if missing:  # Tune ends a run early on SIGINT and returns: the study stops there too
        raise KeyboardInterrupt(f"{len(missing)} trial(s) not run; run the same command again to resume")


def run_study(study_file: Path, exp_dir: Path, concurrent: int = 1, address: Optional[str] = None) -> StudyResult:
    """Run every unfinished trial of the study, then write the leaderboard and the report."""
    from recsys.experiments.leaderboard import write_leaderboard
    from recsys.experiments.report import write_report

    if concurrent < 1:
        raise ConfigError("--concurrent must be >= 1")
    exp_dir.mkdir(parents=True, exist_ok=True)
    study = load_for_exp_dir(study_file, exp_dir)
    data_dir = study_data(study.dataset, exp_dir)
    _write_study(exp_dir, study)
    status = read_status(exp_dir)
    done = {tid for tid, s in status.items() if s["status"] in (FINISHED, STOPPED)}
    pending = [t for t in study.trials if t.id not in done]
    result = StudyResult(exp_dir, [t.id for t in pending], sorted(done & {t.id for t in study.trials}))
    if pending:
        status = {k: v for k, v in status.items() if k in done}
        _run_pending(pending, study, exp_dir, data_dir, concurrent, address, status)
    result.status = status
    frame = write_leaderboard(exp_dir, study, status)
    write_report(exp_dir, study, status, frame)
    return result


def _run_pending(pending: list[Trial], study: Study, exp_dir: Path, data_dir: Path, concurrent: int,
                 address: Optional[str], status: dict[str, dict[str, Any]]) -> None:
    from recsys.distributed.cluster import cpus_per_worker, ray_session

    os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # failed trials report only 'error'
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    with ray_session(address):
        threads = cpus_per_worker(concurrent)
        total = len(status) + len(pending)
        grid = [t for t in pending if not t.search]
        searched = [t for t in pending if t.search]
        if grid:
            _tune(grid, study, exp_dir, data_dir, concurrent, threads, status, total, asha=False)
        if searched:
            _tune(searched, study, exp_dir, data_dir, concurrent, threads, status, total, asha=True)
