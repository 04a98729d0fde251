"""Numerical parity with HF transformers' MobileBERT (PyTorch, CPU), on padded batches."""
import numpy as np
import pytest

from mobilebert_tf import MobileBertConfig, MobileBertForPreTraining
from tests.hf_utils import padded_batch, random_hf_pretraining_model, run_hf

TOL = 1e-4


def _max_diffs(preset, layers, tmp_path, **hf_extra):
    config = MobileBertConfig.from_preset(preset, num_hidden_layers=layers)
    hf_model = random_hf_pretraining_model(config, **hf_extra)
    hf_model.save_pretrained(tmp_path)  # safetensors
    ours = MobileBertForPreTraining.from_pretrained(tmp_path, attention_mask_mode="additive")
    batch = padded_batch()
    theirs = run_hf(hf_model, batch, output_hidden_states=True)
    out = ours(batch, output_hidden_states=True)
    mask = batch["input_mask"][..., None].astype(bool)
    diffs = {
        # padded positions are garbage by definition in both implementations; compare real tokens
        "sequence_output": np.abs(np.where(mask, theirs.hidden_states[-1].numpy() - out["sequence_output"].numpy(),
                                           0)).max(),
        "hidden_states": max(np.abs(np.where(mask, a.numpy() - b.numpy(), 0)).max()
                             for a, b in zip(theirs.hidden_states, out["hidden_states"])),
        "mlm_logits": np.abs(np.where(mask, theirs.prediction_logits.numpy() - out["mlm_logits"].numpy(), 0)).max(),
        "nsp_logits": np.abs(theirs.seq_relationship_logits.numpy() - out["nsp_logits"].numpy()).max(),
    }
    assert len(out["hidden_states"]) == len(theirs.hidden_states) == layers + 1
    return diffs


@pytest.mark.parametrize("preset", ["mobilebert", "mobilebert_tiny", "mobilebert_no_opt"])
def test_parity_reduced_depth(preset, tmp_path):
    diffs = _max_diffs(preset, 3, tmp_path)
    print(f"\n{preset} (3 layers) max abs diff: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    assert all(v <= TOL for v in diffs.values()), diffs


def test_parity_with_pooler_activation(tmp_path):
    """HF's default classifier_activation=True: pooled output goes through dense + tanh (NSP reads it)."""
    diffs = _max_diffs("mobilebert", 2, tmp_path, classifier_activation=True)
    assert all(v <= TOL for v in diffs.values()), diffs


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["mobilebert", "mobilebert_tiny", "mobilebert_no_opt"])
def test_parity_full_depth(preset, tmp_path):
    diffs = _max_diffs(preset, 24, tmp_path)
    print(f"\n{preset} (24 layers) max abs diff: " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    assert all(v <= TOL for v in diffs.values()), diffs


def test_padding_rows_match_unpadded_rows(tmp_path):
    """A padded sequence gives the same real-token outputs as the same tokens unpadded (additive mode).

    Without trigram input only: with it, the last real token sees the first pad's embedding as its
    'next token' (in HF too), so padded and unpadded inputs legitimately differ there."""
    config = MobileBertConfig.from_preset("mobilebert", num_hidden_layers=2, attention_mask_mode="additive",
                                          trigram_input=False)
    model = MobileBertForPreTraining(config)
    batch = padded_batch(batch=2, seq=16)
    n = int(batch["input_mask"][1].sum())
    full = model(batch)["sequence_output"].numpy()[1, :n]
    alone = model({k: v[1:2, :n] for k, v in batch.items()})["sequence_output"].numpy()[0]
    np.testing.assert_allclose(full, alone, atol=1e-5)
