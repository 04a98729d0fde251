"""Training checkpoints: model, optimizer and where the run stands (step, stage, data position).

Layout of a run directory ``OUT``::

    OUT/checkpoints/ckpt-<global step>.*   tf.train.CheckpointManager files (+ ``checkpoint``)
    OUT/checkpoints/run.json               the settings the run started with (checked on resume)
    OUT/logs/                              TensorBoard events + metrics.jsonl
    OUT/config.json, weights.safetensors, model.json, vocab.txt   the final model (save_pretrained)

A checkpoint holds ``model`` (the trained model), ``optimizer`` (slots + iteration count of the
current stage's optimizer) and ``state`` (:class:`TrainState`). Restoring is done in two parts:
model + state first, which says the stage, then the optimizer of that stage once it is built.
"""
from __future__ import annotations

import json
import os
import shutil
import sys

import tensorflow as tf

from mobilebert_tf.config import ConfigError
from mobilebert_tf.fileio import atomic_write_json, path_errors
from mobilebert_tf.weights import CheckpointError

CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
RUN_FILE = "run.json"


class TrainState(tf.Module):
    """Where a run stands. ``batches`` is the data position: global batches read so far.

    Four non-trainable int64 scalar ``tf.Variable``: ``global_step`` (steps done in the whole run),
    ``stage`` (index of the current stage), ``stage_step`` (steps done in the current stage) and
    ``batches``. It is saved as ``state`` in every checkpoint and restored before the optimizer, so that
    a resumed run knows which stage's optimizer to build and how many batches its input pipeline skips.

    Example:
        >>> state = TrainState()
        >>> state.advance()
        >>> state.as_dict()
        {'global_step': 1, 'stage': 0, 'stage_step': 1, 'batches': 1}
    """

    def __init__(self):
        super().__init__(name="train_state")
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.stage = tf.Variable(0, dtype=tf.int64, trainable=False, name="stage")
        self.stage_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="stage_step")
        self.batches = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches")

    def as_dict(self) -> dict[str, int]:
        """The four counters as Python ints.

        Returns:
            dict. ``{"global_step", "stage", "stage_step", "batches"}`` -> int (``TrainResult.state``).
        """
        return {"global_step": int(self.global_step.numpy()), "stage": int(self.stage.numpy()),
                "stage_step": int(self.stage_step.numpy()), "batches": int(self.batches.numpy())}

    def advance(self):
        """Count one training step done: add 1 to ``global_step``, ``stage_step`` and ``batches``."""
        for v in (self.global_step, self.stage_step, self.batches):
            v.assign_add(1)

    def next_stage(self):
        """Move to the next stage: add 1 to ``stage`` and set ``stage_step`` to 0 (``global_step`` runs on)."""
        self.stage.assign_add(1)
        self.stage_step.assign(0)


class CheckpointKeeper:
    """Saves and restores checkpoints in ``OUT/checkpoints`` with ``tf.train.CheckpointManager``.

    With several workers every worker takes part in a save (it is collective), but only the chief
    keeps its files; the others write to a scratch folder and delete it, as TensorFlow advises.
    Every checkpoint is numbered by the global step (``ckpt-<global_step>``); the oldest beyond
    ``max_to_keep`` are deleted by the manager.

    Args:
        out_dir: str. The run directory; checkpoints go to ``out_dir/checkpoints``.
        max_to_keep: int. How many checkpoints the manager keeps (``--keep-checkpoints``).
        is_chief: bool. Whether this worker keeps its checkpoint files (``worker_info(strategy)[0]``).
        worker: str. This worker's name; a non-chief writes to ``checkpoints/.scratch-<worker>``.

    Example:
        >>> keeper = CheckpointKeeper("runs/teacher", max_to_keep=3)
        >>> path = keeper.save(model, state, optimizer)  # doctest: +SKIP
        >>> keeper.restore_model_and_state(model, TrainState())  # doctest: +SKIP
        'runs/teacher/checkpoints/ckpt-1000'
    """

    def __init__(self, out_dir: str, *, max_to_keep: int = 3, is_chief: bool = True, worker: str = "chief"):
        self.directory = os.path.join(out_dir, CHECKPOINT_DIR)
        self.max_to_keep = max_to_keep
        self.is_chief = is_chief
        self._write_dir = self.directory if is_chief else os.path.join(self.directory, f".scratch-{worker}")
        self._manager = None
        self._bound = None

    @property
    def latest(self) -> str | None:
        """The prefix of the newest checkpoint the ``checkpoint`` state file names, or None when there is none.

        Returns:
            str or None. A prefix such as ``OUT/checkpoints/ckpt-1000`` (``tf.train.latest_checkpoint``).
        """
        return tf.train.latest_checkpoint(self.directory)

    def candidates(self) -> list[str]:
        """Checkpoint prefixes, newest first (those the ``checkpoint`` state file lists).

        Returns:
            list of str. Prefixes (relative entries of the state file joined to ``out_dir/checkpoints``),
            newest first; empty when there is no ``checkpoint`` state file.
        """
        ckpt_state = tf.train.get_checkpoint_state(self.directory)
        if ckpt_state is None:
            return []
        paths = list(ckpt_state.all_model_checkpoint_paths) or [ckpt_state.model_checkpoint_path]
        if ckpt_state.model_checkpoint_path and ckpt_state.model_checkpoint_path not in paths:
            paths.append(ckpt_state.model_checkpoint_path)
        return [p if os.path.isabs(p) else os.path.join(self.directory, p) for p in reversed(paths)]

    def restore_model_and_state(self, model, state: TrainState, path: str | None = None,
                                log=None) -> str | None:
        """Restore ``model`` and ``state`` from ``path`` (default: the latest readable checkpoint: a truncated
        or damaged latest one falls back to the one before, saying so through ``log``). Returns the path used.

        The optimizer is not restored here (``expect_partial``): it is built later, for the stage that
        ``state`` names, and restored with :meth:`restore_optimizer`. Every variable of ``model`` and
        ``state`` must be in the checkpoint.

        Args:
            model: the Keras model, built (its variables exist), as it was saved (``model`` in the checkpoint).
            state: TrainState. Assigned the checkpoint's counters.
            path: str or None. A checkpoint prefix; None tries :meth:`candidates`, newest first.
            log: callable ``str -> None`` or None. Where fallback messages go (default: print to stderr).

        Returns:
            str or None. The checkpoint prefix restored, or None when ``path`` is None and there is no checkpoint.

        Raises:
            CheckpointError: ``path`` is None and none of the candidates can be read.
            tf.errors.OpError, AssertionError, ValueError: an explicit ``path`` cannot be read or does not
                match ``model`` / ``state``.
        """
        if path is not None:
            return self._restore(model, state, path)
        log = log or (lambda msg: print(msg, file=sys.stderr))
        candidates = self.candidates()
        if not candidates:
            return None
        problems = []
        for candidate in candidates:
            try:
                used = self._restore(model, state, candidate)
            except (tf.errors.OpError, ValueError, AssertionError, IndexError) as e:  # IndexError: short read
                problems.append(f"{os.path.basename(candidate)}: {str(e).splitlines()[0][:200]}")
                log(f"checkpoint {candidate} is damaged or truncated ({problems[-1]}); trying the one before")
                continue
            if problems:
                log(f"resuming from the previous checkpoint {used} (the later one could not be read)")
            return used
        raise CheckpointError(f"no readable checkpoint in {self.directory}: " + "; ".join(problems))

    @staticmethod
    def _restore(model, state: TrainState, path: str) -> str:
        status = tf.train.Checkpoint(model=model, state=state).restore(path)
        status.expect_partial()  # the optimizer is restored separately, once it exists
        status.assert_existing_objects_matched()
        return path

    def restore_optimizer(self, optimizer, path: str) -> None:
        """Restore the slots and iteration count of ``optimizer`` (built) from the checkpoint ``path``.

        Args:
            optimizer: the stage's optimizer, built on the model's variables, as in the saved run.
            path: str. The checkpoint prefix :meth:`restore_model_and_state` returned.

        Raises:
            AssertionError: a variable of ``optimizer`` is not in the checkpoint (another optimizer or stage).
        """
        status = tf.train.Checkpoint(optimizer=optimizer).restore(path)
        status.expect_partial()
        status.assert_existing_objects_matched()

    def save(self, model, state: TrainState, optimizer) -> str:
        """Save ``model``, ``state`` and ``optimizer`` as ``ckpt-<global_step>`` (every worker must call it).

        A new ``tf.train.CheckpointManager`` is bound whenever the model or the optimizer object changes
        (a new stage builds a new optimizer).

        Args:
            model: the trained model.
            state: TrainState. Its ``global_step`` numbers the checkpoint.
            optimizer: the current stage's optimizer.

        Returns:
            str. The prefix written (on a non-chief worker, in the scratch folder, already deleted).

        Raises:
            PathError: the checkpoint folder cannot be written (full disk, no permission), naming it.
        """
        key = (id(model), id(optimizer))
        if self._bound != key:
            ckpt = tf.train.Checkpoint(model=model, state=state, optimizer=optimizer)
            self._manager = tf.train.CheckpointManager(ckpt, self._write_dir, max_to_keep=self.max_to_keep)
            self._bound = key
        with path_errors(self._write_dir, "save a checkpoint in"):
            path = self._manager.save(checkpoint_number=int(state.global_step.numpy()))
        if not self.is_chief:
            shutil.rmtree(self._write_dir, ignore_errors=True)
        return path


def _flatten(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}, so that a difference is reported by its field."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_run_settings(out_dir: str, settings: dict, *, resume: bool, is_chief: bool = True) -> bool:
    """Record ``settings`` for a new run, or compare them with the recorded ones on ``--resume``.

    Returns True when there is a checkpoint to resume from. Without ``resume`` an existing
    checkpoint is an error (never silently overwritten or continued); with it, no checkpoint means
    a fresh start, so a preempted job can always be restarted with the same command line.

    The settings are written to ``out_dir/checkpoints/run.json`` (by the chief, atomically, sorted keys)
    when there is no checkpoint, or a checkpoint without a ``run.json``. When both exist they are
    compared field by field after a JSON round trip (nested dicts as dotted keys, so tuples equal lists).

    Args:
        out_dir: str. The run directory (``--out``).
        settings: dict. JSON-serializable settings that decide the weights (config, data, batch,
            optimizer, schedule, seed, ...).
        resume: bool. ``--resume``: continue the run in ``out_dir`` if it has a checkpoint.
        is_chief: bool. Only the chief writes ``run.json``.

    Returns:
        bool. True when ``out_dir`` holds a checkpoint (and ``resume`` is set).

    Raises:
        ConfigError: ``out_dir`` holds checkpoints and ``resume`` is not set; it holds a model
            (``config.json``) and no checkpoints; or (resuming) a setting differs from ``run.json``,
            each differing field named (``training.batch_size: checkpoint 8, now 4``).

    Example:
        >>> check_run_settings("runs/teacher", {"training": {"batch_size": 8}}, resume=True)  # doctest: +SKIP
        False
    """
    ckpt_dir = os.path.join(out_dir, CHECKPOINT_DIR)
    has_checkpoint = tf.train.latest_checkpoint(ckpt_dir) is not None
    run_file = os.path.join(ckpt_dir, RUN_FILE)
    if has_checkpoint and not resume:
        raise ConfigError(f"{out_dir} already holds training checkpoints; pass --resume to continue that run, "
                          f"or choose another --out")
    if not has_checkpoint and os.path.isfile(os.path.join(out_dir, "config.json")):
        raise ConfigError(f"{out_dir} already holds a model (config.json) and no training checkpoints; "
                          f"choose another --out")
    if has_checkpoint and os.path.isfile(run_file):
        with open(run_file, encoding="utf-8") as f:
            recorded = json.load(f)
        before, now = _flatten(recorded), _flatten(json.loads(json.dumps(settings)))
        differ = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if differ:
            details = "; ".join(f"{k}: checkpoint {before.get(k)!r}, now {now.get(k)!r}" for k in differ)
            raise ConfigError(f"--resume: settings differ from the run in {out_dir}: {details}")
    elif is_chief:
        os.makedirs(ckpt_dir, exist_ok=True)
        atomic_write_json(run_file, settings, sort_keys=True)
    return has_checkpoint
