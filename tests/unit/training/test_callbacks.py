"""Early stopping: patience, best epoch, monitor direction."""

from __future__ import annotations

from recsys.training.callbacks import EarlyStopping


def _feed(stopper: EarlyStopping, values: list[float], key: str = "val_auc") -> list[bool]:
    stops = []
    for epoch, v in enumerate(values):
        stopper.on_epoch_end(None, epoch, {key: v})
        stops.append(stopper.stop)
    return stops


def test_stops_after_patience_epochs_without_improvement() -> None:
    s = EarlyStopping(patience=1)
    assert _feed(s, [0.70, 0.72, 0.71]) == [False, False, True]
    assert s.best_epoch == 1 and s.best == 0.72
    two = EarlyStopping(patience=2)
    assert _feed(two, [0.70, 0.72, 0.71, 0.715, 0.69]) == [False, False, False, True, True]
    assert two.bad_epochs == 3


def test_logloss_is_minimized_and_state_round_trips() -> None:
    s = EarlyStopping(patience=0, monitor="logloss")
    assert _feed(s, [0.50, 0.45, 0.46], key="val_logloss") == [False, False, True]
    assert s.best_epoch == 1
    t = EarlyStopping(patience=0, monitor="logloss")
    t.load(s.state())
    assert (t.best, t.best_epoch, t.bad_epochs) == (s.best, s.best_epoch, s.bad_epochs)


def test_plateau_cuts_the_learning_rate_after_its_patience() -> None:
    import torch

    from recsys.training.config import TrainConfig
    from recsys.training.loop import Trainer

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    trainer = Trainer.__new__(Trainer)
    trainer.cfg = TrainConfig(lr_schedule="plateau", plateau_patience=2, patience=9)
    trainer.optimizer, trainer.early = opt, EarlyStopping(patience=9)
    lrs = []
    for epoch, auc in enumerate([0.70, 0.69, 0.68, 0.67, 0.66, 0.71, 0.70]):
        trainer.early.on_epoch_end(None, epoch, {"val_auc": auc})
        trainer._plateau(epoch)
        lrs.append(round(opt.param_groups[0]["lr"], 6))
    assert lrs == [1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.01]  # every 2nd bad epoch, never on a good one
