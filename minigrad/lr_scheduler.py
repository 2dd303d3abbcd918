"""Learning-rate schedules as torch.optim.lr_scheduler's (``mg.optim.lr_scheduler``): each sets its
optimizer's ``lr`` once on construction (epoch 0) and again at every ``step()``, from the closed
form of torch's schedule (one group of options per optimizer, so one rate). Between calls of an
``mg.compile``'d step the new rate is read by the step (the optimizer's update runs as Python)."""

from __future__ import annotations

import bisect
import math
import numbers


def _real(owner: str, name: str, value, low: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or (
            value <= low if strict else value < low):
        raise ValueError(f"{owner}: {name} must be a number {'>' if strict else '>='} {low}, "
                         f"got {value!r}")
    return float(value)


def _count(owner: str, name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


class LRScheduler:
    """Base: ``lr_at(epoch)`` is the schedule; ``step()`` moves one epoch and sets the rate."""

    def __init__(self, optimizer, last_epoch: int = -1):
        if not hasattr(optimizer, "lr") or not hasattr(optimizer, "step"):
            raise TypeError(f"{type(self).__name__}: expected an mg.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, numbers.Integral) or \
                last_epoch != -1:
            raise ValueError(f"{type(self).__name__}: only last_epoch=-1 (a fresh schedule) is "
                             f"supported, got {last_epoch!r}; resume with load_state_dict")
        self.optimizer = optimizer
        self.base_lr = float(optimizer.lr)
        self.last_epoch = -1
        self.step()

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError(f"{type(self).__name__} does not define lr_at()")  # abstract

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> list[float]:
        """[the rate set last] (torch's list: one entry per parameter group)."""
        return [self.optimizer.lr]

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer" and not callable(v)}

    def load_state_dict(self, state: dict) -> None:
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: keys {unknown} are not "
                             "this scheduler's")
        vars(self).update(state)
        self.optimizer.lr = self.lr_at(self.last_epoch)


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch)."""

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        if not callable(lr_lambda):
            raise TypeError(f"LambdaLR: lr_lambda must be a function of the epoch, got "
                            f"{lr_lambda!r}")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return self.base_lr * self.lr_lambda(epoch)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = _count("StepLR", "step_size", step_size)
        self.gamma = _real("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (the number of milestones <= epoch)."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = sorted(_count("MultiStepLR", "milestones", m, 0) for m in milestones)
        self.gamma = _real("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = _real("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        return self.base_lr * self.gamma ** epoch


class LinearLR(LRScheduler):
    """lr = base_lr * (start_factor + (end_factor - start_factor) min(epoch, total_iters) /
    total_iters)."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        self.start_factor = _real("LinearLR", "start_factor", start_factor, 0.0, strict=True)
        self.end_factor = _real("LinearLR", "end_factor", end_factor)
        if self.start_factor > 1 or self.end_factor > 1:
            raise ValueError(f"LinearLR: start_factor and end_factor must be <= 1, got "
                             f"{start_factor}, {end_factor}")
        self.total_iters = _count("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        done = min(epoch, self.total_iters) / self.total_iters
        return self.base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (SGDR without
    restarts, Loshchilov & Hutter 2017)."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803 - torch's
                 last_epoch: int = -1):
        self.T_max = _count("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = _real("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, epoch):
        cosine = 1.0 + math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * cosine / 2.0


class ReduceLROnPlateau:
    """torch's: step(metric) multiplies lr by `factor` (not below min_lr, and only by more than
    eps) after more than `patience` epochs without an improvement beyond `threshold`
    (threshold_mode "rel" or "abs", mode "min" or "max"), then waits `cooldown` epochs."""

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8):
        owner = "ReduceLROnPlateau"
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max' and threshold_mode 'rel' or "
                             f"'abs', got {mode!r}, {threshold_mode!r}")
        factor = _real(owner, "factor", factor)
        if factor >= 1.0:
            raise ValueError(f"{owner}: factor must be < 1, got {factor}")
        self.optimizer = optimizer
        self.mode, self.factor, self.threshold_mode = mode, factor, threshold_mode
        self.patience = _count(owner, "patience", patience, 0)
        self.cooldown = _count(owner, "cooldown", cooldown, 0)
        self.threshold = _real(owner, "threshold", threshold)
        self.min_lr, self.eps = _real(owner, "min_lr", min_lr), _real(owner, "eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            bound = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else \
                self.best - self.threshold
            return value < bound
        bound = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else \
            self.best + self.threshold
        return value > bound

    def step(self, metrics) -> None:
        value = float(metrics)
        self.last_epoch += 1
        if self._better(value):
            self.best, self.num_bad_epochs = value, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new = max(self.optimizer.lr * self.factor, self.min_lr)
            if self.optimizer.lr - new > self.eps:
                self.optimizer.lr = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.lr]

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"ReduceLROnPlateau.load_state_dict: keys {unknown} are not this "
                             "scheduler's")
        vars(self).update(state)
