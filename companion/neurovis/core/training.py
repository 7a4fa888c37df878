"""The training loop chapters share: AMP on GPU, gradient clipping, atomic checkpoints with resume,
progress bars, early NaN detection, optional DDP under ``torchrun``."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``checkpoint_path``: where to save after every epoch and resume from."""

    num_epochs: int
    amp: bool = True
    clip_grad_norm: float | None = None
    checkpoint_path: str | Path | None = None
    progress: bool = True
    desc: str = "train"

    def __post_init__(self):
        if self.num_epochs < 1:
            raise ValueError(f"num_epochs must be >= 1, got {self.num_epochs}")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise ValueError(f"clip_grad_norm must be positive, got {self.clip_grad_norm}")


def init_distributed():
    """Initialise DDP from ``torchrun``'s environment. Returns (rank, world_size, device)."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, None
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}") if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return rank, world, device


def progress_enabled() -> bool:
    """Progress bars are on unless ``NEUROVIS_PROGRESS=0`` (the runner and nbval set it: a static
    page gains nothing from them, and thousands of widget updates can overflow a kernel's output
    queue)."""
    return os.environ.get("NEUROVIS_PROGRESS", "1") != "0"


def _is_main() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _rng_state(loader) -> dict:
    """Every RNG's state as tensors and plain Python values only, so that a checkpoint loads with
    ``torch.load(weights_only=True)`` (numpy's key array is stored as an int64 tensor)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    keys = torch.from_numpy(keys.astype(np.int64))
    numpy_state = (kind, keys, int(pos), int(has_gauss), float(gauss))
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    gen = getattr(loader, "generator", None)
    if gen is not None:
        state["loader"] = gen.get_state()
    return state


def _set_rng_state(state: dict, loader):
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    gen = getattr(loader, "generator", None)
    if gen is not None and "loader" in state:
        gen.set_state(state["loader"])


def save_checkpoint(path, **state):
    """Atomic save: write to a temporary file then rename, so a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path, map_location=None) -> dict:
    """Load a checkpoint written by ``save_checkpoint`` with ``torch.load(weights_only=True)``:
    tensors and plain Python values only, so a tampered file cannot run code when it is loaded.
    Anything else is refused with a ValueError naming the file."""
    import pickle

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(
            f"{path}: refused to load this checkpoint: it holds objects other than tensors and "
            f"plain Python values ({first}). Checkpoints written by neurovis hold none, so the "
            "file was altered or written by other code (or by a neurovis older than the safe "
            "format); delete it to train from scratch."
        ) from None


class StopTraining(Exception):
    """Raised by an ``on_epoch_end`` callback to end ``fit`` early (after that epoch)."""


class KeepBest:
    """Best-validation checkpoint and early stopping, as ``fit``'s ``on_epoch_end``.

    After each epoch it reads ``history[metric][-1]`` (a validation metric that ``evaluate``
    logs), keeps a copy of the weights when the value is the best so far, and, with ``patience``,
    stops training once that many epochs passed without improvement. After ``fit``, ``restore()``
    puts the best epoch's weights back into the model, so the test set sees the model that
    validation chose, not the last one.
    """

    def __init__(self, model, metric: str, mode: str = "min", patience: int | None = None):
        if mode not in ("min", "max"):
            raise ValueError(f"KeepBest: mode must be 'min' or 'max', got {mode!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"KeepBest: patience must be >= 1 or None, got {patience}")
        self.model, self.metric, self.mode, self.patience = model, metric, mode, patience
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self._state = None

    def __call__(self, epoch: int, history: dict) -> None:
        if self.metric not in history:
            raise KeyError(
                f"KeepBest: no {self.metric!r} in the history (logged: {sorted(history)}); "
                "fit's evaluate must return it"
            )
        value = float(history[self.metric][-1])
        better = self.best_value is None or (
            value < self.best_value if self.mode == "min" else value > self.best_value
        )
        if better:
            self.best_value, self.best_epoch = value, epoch
            self._state = {
                k: v.detach().clone() for k, v in _unwrap(self.model).state_dict().items()
            }
        elif self.patience is not None and epoch - self.best_epoch >= self.patience:
            raise StopTraining(
                f"{self.metric} has not improved for {self.patience} epochs "
                f"(best {self.best_value:.4g} at epoch {self.best_epoch + 1})"
            )

    def restore(self):
        """Load the best epoch's weights into the model; returns the model."""
        if self._state is None:
            raise RuntimeError("KeepBest.restore: no epoch was recorded (was fit run with it?)")
        _unwrap(self.model).load_state_dict(self._state)
        return self.model


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def fit(
    model: torch.nn.Module,
    loss_fn: Callable,
    loader,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    device,
    scheduler=None,
    evaluate: Callable | None = None,
    on_epoch_end: Callable | None = None,
    step_scheduler=None,
) -> dict:
    """Train ``model`` and return its history ``{"loss": [...], <eval metrics>: [...]}``.

    loss_fn(model, batch) -> loss tensor, or (loss, {name: float}) to log more.
    evaluate(model) -> {name: float}, called after each epoch (model in eval mode).
    on_epoch_end(epoch, history) is called after the checkpoint is written (it may raise to stop;
    ``StopTraining`` ends training normally, with ``history["stopped"] = [epoch, reason]``, e.g.
    from ``KeepBest`` with patience).
    ``scheduler`` steps once per epoch, ``step_scheduler`` after every optimiser step (e.g. a
    warmup). With ``config.checkpoint_path`` set and a checkpoint there,
    training resumes after the last finished epoch with weights, optimiser, scheduler, AMP scaler
    and RNG states restored, so a resumed run matches an uninterrupted one.
    """
    import torch.distributed as dist

    device = torch.device(device)
    model.to(device)
    if (
        dist.is_available()
        and dist.is_initialized()
        and not isinstance(model, torch.nn.parallel.DistributedDataParallel)
    ):
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: dict = {"loss": []}
    start_epoch = 0
    ckpt = Path(config.checkpoint_path) if config.checkpoint_path else None
    if ckpt is not None and ckpt.is_file():
        state = load_checkpoint(ckpt, map_location=device)
        _unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if step_scheduler is not None and state.get("step_scheduler") is not None:
            step_scheduler.load_state_dict(state["step_scheduler"])
        scaler.load_state_dict(state["scaler"])
        history = state["history"]
        start_epoch = state["epoch"] + 1
        _set_rng_state(state["rng"], loader)

    for epoch in range(start_epoch, config.num_epochs):
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):
            loader.sampler.set_epoch(epoch)
        model.train()
        total, count, logs = 0.0, 0, {}
        bar = tqdm(
            loader,
            desc=f"{config.desc} {epoch + 1}/{config.num_epochs}",
            leave=False,
            mininterval=0.5,
            disable=not (config.progress and _is_main() and progress_enabled()),
        )
        for step, batch in enumerate(bar):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, enabled=use_amp):
                out = loss_fn(model, batch)
            loss, extra = out if isinstance(out, tuple) else (out, {})
            if not torch.isfinite(loss.detach()).all():
                raise FloatingPointError(
                    f"{config.desc}: non-finite loss ({loss.item()}) at epoch {epoch + 1}, step "
                    f"{step}; "
                    "lower the learning rate or check the inputs"
                )
            scaler.scale(loss).backward()
            if config.clip_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            if step_scheduler is not None:
                step_scheduler.step()
            total += loss.item()
            count += 1
            for k, v in extra.items():
                logs.setdefault(k, []).append(float(v))
            bar.set_postfix(loss=f"{total / count:.4f}")
        if count == 0:
            raise ValueError(f"{config.desc}: the loader yielded no batches")
        history["loss"].append(total / count)
        for k, v in logs.items():
            history.setdefault(k, []).append(float(np.mean(v)))
        if scheduler is not None:
            scheduler.step()
        if evaluate is not None:
            model.eval()
            with torch.no_grad():
                for k, v in evaluate(_unwrap(model)).items():
                    history.setdefault(k, []).append(float(v))
        if ckpt is not None and _is_main():
            save_checkpoint(
                ckpt,
                model=_unwrap(model).state_dict(),
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict() if scheduler is not None else None,
                step_scheduler=step_scheduler.state_dict() if step_scheduler is not None else None,
                scaler=scaler.state_dict(),
                history=history,
                epoch=epoch,
                rng=_rng_state(loader),
            )
        if on_epoch_end is not None:
            try:
                on_epoch_end(epoch, history)
            except StopTraining as stop:
                history["stopped"] = [epoch + 1, str(stop)]
                break
    model.eval()
    return history
