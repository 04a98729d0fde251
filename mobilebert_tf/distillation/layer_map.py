"""Which teacher layer each student layer learns from, when the two differ in depth.

Layers are 0-based block indices (``encoder/layer_i``); block ``i``'s output is hidden state
``i + 1`` and its attention map is ``attention_scores[i]``.

* ``uniform``: student layer ``i`` of ``Ls`` -> teacher layer ``ceil((i + 1) * Lt / Ls) - 1``
  (evenly spread, last to last; identity when the depths agree).
* ``last``: the student's layers map onto the teacher's top ``Ls`` layers, ``Lt - Ls + i``.
* ``"0:1,1:3"``: explicit ``student:teacher`` pairs, every student layer exactly once.
"""
from __future__ import annotations

from mobilebert_tf.config import ConfigError

LAYER_MAP_RULES = ("uniform", "last")


def resolve_layer_map(spec: str, student_layers: int, teacher_layers: int) -> tuple[int, ...]:
    """``spec`` -> teacher layer index per student layer (a tuple of length ``student_layers``)."""
    if spec == "uniform":
        return tuple(-(-(i + 1) * teacher_layers // student_layers) - 1 for i in range(student_layers))
    if spec == "last":
        if teacher_layers < student_layers:
            raise ConfigError(f"--layer-map last needs a teacher at least as deep as the student "
                              f"(teacher {teacher_layers} layers, student {student_layers})")
        return tuple(teacher_layers - student_layers + i for i in range(student_layers))
    mapping: dict[int, int] = {}
    for item in spec.split(","):
        parts = item.strip().split(":")
        try:
            s, t = (int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"--layer-map: bad entry {item.strip()!r}; expected 'uniform', 'last' or "
                              f"'student:teacher' pairs such as '0:1,1:3'") from None
        if not 0 <= s < student_layers:
            raise ConfigError(f"--layer-map: student layer {s} in {item.strip()!r} is out of range "
                              f"[0, {student_layers})")
        if not 0 <= t < teacher_layers:
            raise ConfigError(f"--layer-map: teacher layer {t} in {item.strip()!r} is out of range "
                              f"[0, {teacher_layers})")
        if s in mapping:
            raise ConfigError(f"--layer-map: student layer {s} is mapped twice")
        mapping[s] = t
    missing = [i for i in range(student_layers) if i not in mapping]
    if missing:
        raise ConfigError(f"--layer-map: student layer(s) {missing} have no teacher layer")
    return tuple(mapping[i] for i in range(student_layers))
