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


def random_hf_pretraining_model(config, seed: int = 0, **extra):
    """A randomly initialized HF MobileBertForPreTraining with perturbed norms (so NoNorm/LayerNorm
    parameters are not the trivial ones/zeros), in eval mode."""
    import torch
    from transformers import MobileBertForPreTraining as HFModel

    torch.manual_seed(seed)
    model = HFModel(hf_config(config, **extra)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


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
