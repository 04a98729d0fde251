"""Helpers for tests that compare against HF transformers (PyTorch, CPU)."""
from __future__ import annotations

import numpy as np

from mobilebert_tf.checkpoints.hf import config_to_hf_dict


def hf_config(config, **extra):
    from transformers import MobileBertConfig as HFConfig

    values = config_to_hf_dict(config)
    for key in ("model_type", "architectures", "true_hidden_size"):
        values.pop(key)
    values.update(extra)
    return HFConfig(**values)


def perturb_all_parameters(model, seed: int = 0) -> None:
    """Add seeded noise to every parameter of an HF model, biases and norms included: HF initializes
    biases at zero and norms at ones/zeros, where a weight mapped to the wrong place (a swapped bias, a
    transposed square kernel) would go unnoticed."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1 if "LayerNorm" in name else 0.02  # NoNorm/LayerNorm: away from the trivial ones/zeros
            p.add_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * scale)


def random_hf_model(kind: str, config, seed: int = 0, **extra):
    """A randomly initialized HF model ``kind`` (e.g. ``"MobileBertForSequenceClassification"``) with every
    parameter perturbed (:func:`perturb_all_parameters`), in eval mode."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = getattr(transformers, kind)(hf_config(config, **extra)).eval()
    perturb_all_parameters(model, seed)
    return model


def random_hf_pretraining_model(config, seed: int = 0, **extra):
    """A randomly initialized HF MobileBertForPreTraining, every parameter perturbed, in eval mode."""
    return random_hf_model("MobileBertForPreTraining", config, seed, **extra)


def padded_batch(batch: int = 3, seq: int = 24, vocab: int = 30522, seed: int = 0):
    """Random ids with real padding: row 0 full, the others padded at different lengths."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(min(1000, vocab // 2), vocab, (batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    for b in range(1, batch):
        length = max(2, seq - 5 * b)
        mask[b, length:] = 0
        ids[b, length:] = 0
    seg = np.zeros((batch, seq), np.int32)
    seg[:, seq // 2:] = 1
    seg *= mask
    return {"input_ids": ids, "input_mask": mask, "segment_ids": seg}


def run_hf(model, batch, **kwargs):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor(batch["input_ids"], dtype=torch.long),
                     attention_mask=torch.tensor(batch["input_mask"], dtype=torch.long),
                     token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long), **kwargs)
