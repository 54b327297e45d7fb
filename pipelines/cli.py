"""The ``recsys`` command: dispatches verbs to pipelines; user errors exit 2 with one line."""

from __future__ import annotations

import gc
import importlib
import logging
import sys
import warnings
from typing import Optional, Sequence

from recsys.errors import RecsysError

VERBS = {
    "synth": ("pipelines.synth", "main"),
    "prepare": ("pipelines.prepare", "main"),
    "rank": ("pipelines.rank", "main"),
    "train": ("pipelines.train", "main"),
    "evaluate": ("pipelines.train", "evaluate_main"),
    "export": ("pipelines.export", "main"),
    "score": ("pipelines.score", "main"),
    "serve": ("serving.app", "main"),
    "experiment": ("pipelines.experiment", "main"),
    "compare": ("pipelines.experiment", "compare_main"),
}
USAGE = "usage: recsys {" + ",".join(VERBS) + "} ...  (recsys VERB --help for options)"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args[0] not in VERBS:
        print(USAGE, file=sys.stderr if args and args[0] not in ("-h", "--help") else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help") else 2
    quiet_warnings()
    logging.basicConfig(level=logging.ERROR)  # TorchRec's planner logs per-table warnings at WARNING
    module, func = VERBS[args[0]]
    try:
        entry = getattr(importlib.import_module(module), func)
        quiet_libraries()
        entry(args[1:])
    except RecsysError as exc:
        print(f"recsys {args[0]}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"recsys {args[0]}: interrupted", file=sys.stderr)
        return 130
    finally:
        if argv is None:  # a command, not a call: the process ends next
            exit_quickly()
    return 0


def exit_quickly() -> None:
    """Spare the process the interpreter's shutdown walk over every object torch, TorchRec and
    their imports created: 1.18 s of every command after its work was done, 0.19 s with the
    objects frozen (``benchmarks/teardown.py``). Atexit handlers and stream flushes still run;
    objects are still freed by reference counting."""
    gc.freeze()


def quiet_warnings() -> None:
    """Silence the deprecation notices torch, TorchRec and fbgemm print about their own APIs
    (seen in a run of every verb: torch.jit.script, ShardedTensor, fbgemm's module moves,
    TorchRec's planner and DDP options); every other warning still shows."""
    for category in (DeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(torch|torchrec|fbgemm_gpu)(\.|$)")
    # Raised inside torch.distributed._shard but attributed to our state_dict call site.
    warnings.filterwarnings("ignore", message="Please use DTensor instead", category=FutureWarning)


def quiet_libraries() -> None:
    """torch/TorchRec set levels on their own loggers at import; lower them to ERROR after.

    Lowers the loggers that exist now: verbs that import TorchRec lazily call it again."""
    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("torch", "torchrec", "fbgemm_gpu"):
            logging.getLogger(name).setLevel(logging.ERROR)


if __name__ == "__main__":
    sys.exit(main())
