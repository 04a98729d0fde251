"""Analytic parameter and FLOP counts per op (batch 1).

FLOPs are 2 x multiply-accumulates of every matrix product: dense layers (``dense``), the two
attention products Q·Kᵀ and P·V (``attention``) and, for pre-training, the MLM head. Elementwise ops
(bias adds, norms, activations, softmax) are a few percent and are not counted, as in the paper.
``tests/test_flops.py`` checks every op against TensorFlow's profiler (MatMul / BatchMatMul nodes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mobilebert_tf.config import MobileBertConfig


@dataclass
class FlopCount:
    ops: dict[str, int] = field(default_factory=dict)  # op path -> FLOPs

    def add(self, name: str, flops: int) -> None:
        self.ops[name] = self.ops.get(name, 0) + int(flops)

    def total(self, prefix: str = "") -> int:
        return sum(v for k, v in self.ops.items() if k.startswith(prefix))

    def dense(self) -> int:
        return sum(v for k, v in self.ops.items() if not k.endswith(("/scores", "/context")))


def _dense(fc: FlopCount, name: str, seq: int, n_in: int, n_out: int) -> None:
    fc.add(name, 2 * seq * n_in * n_out)


def count_flops(config: MobileBertConfig, seq_len: int, heads: str = "none") -> FlopCount:
    """FLOPs of one forward pass at ``seq_len``. ``heads``: ``none`` | ``pretraining`` (MLM over every
    position + NSP) | ``classifier`` | ``qa``."""
    c, S, fc = config, seq_len, FlopCount()
    if c.uses_embedding_transformation:
        _dense(fc, "encoder/embeddings/embedding_transformation", S,
               c.embedding_size * (3 if c.trigram_input else 1), c.hidden_size)
    H, B, N, d = c.hidden_size, c.true_hidden_size, c.num_attention_heads, c.attention_head_size
    for i in range(c.num_hidden_layers):
        p = f"encoder/layer_{i}"
        qk_in = v_in = H
        if c.use_bottleneck:
            _dense(fc, f"{p}/bottleneck/input", S, H, B)
            if c.key_query_shared_bottleneck:
                _dense(fc, f"{p}/bottleneck/attention", S, H, B)
                qk_in = B
            elif c.use_bottleneck_attention:
                qk_in = v_in = B
        _dense(fc, f"{p}/attention/query", S, qk_in, N * d)
        _dense(fc, f"{p}/attention/key", S, qk_in, N * d)
        _dense(fc, f"{p}/attention/value", S, v_in, N * d)
        fc.add(f"{p}/attention/scores", 2 * N * S * S * d)
        fc.add(f"{p}/attention/context", 2 * N * S * S * d)
        _dense(fc, f"{p}/attention/output", S, N * d, B)
        for k in range(c.num_feedforward_networks - 1):
            _dense(fc, f"{p}/ffn/ffn_{k}/intermediate", S, B, c.intermediate_size)
            _dense(fc, f"{p}/ffn/ffn_{k}/output", S, c.intermediate_size, B)
        _dense(fc, f"{p}/ffn/final_ffn/intermediate", S, B, c.intermediate_size)
        _dense(fc, f"{p}/ffn/final_ffn/output", S, c.intermediate_size, B)
        if c.use_bottleneck:
            _dense(fc, f"{p}/output_bottleneck/dense", S, B, H)
    if c.classifier_activation:
        _dense(fc, "encoder/pooler/dense", 1, H, H)
    if heads == "pretraining":
        _dense(fc, "mlm/transform", S, H, H)
        _dense(fc, "mlm/logits", S, H, c.vocab_size)
        _dense(fc, "nsp/seq_relationship", 1, H, 2)
    elif heads == "classifier":
        _dense(fc, "classifier_head/classifier", 1, H, 2)
    elif heads == "qa":
        _dense(fc, "qa_head/qa_outputs", S, H, 2)
    elif heads != "none":
        raise ValueError(f"unknown heads {heads!r}; choose none, pretraining, classifier or qa")
    return fc


def count_params(config: MobileBertConfig) -> dict[str, int]:
    """Parameter counts of MobileBertForPreTraining, split like the paper's table.

    ``encoder``: embeddings + transformer layers (no pooler, no heads); ``heads``: pooler + MLM + NSP.
    """
    c = config
    H, B, E, V = c.hidden_size, c.true_hidden_size, c.embedding_size, c.vocab_size
    lin = lambda i, o: i * o + o  # noqa: E731
    emb = V * E + c.max_position_embeddings * H + c.type_vocab_size * H + 2 * H
    if c.uses_embedding_transformation:
        emb += lin(E * (3 if c.trigram_input else 1), H)
    layer = 0
    qk_in = v_in = H
    if c.use_bottleneck:
        layer += lin(H, B) + 2 * B
        if c.key_query_shared_bottleneck:
            layer += lin(H, B) + 2 * B
            qk_in = B
        elif c.use_bottleneck_attention:
            qk_in = v_in = B
    A = c.num_attention_heads * c.attention_head_size
    layer += 2 * lin(qk_in, A) + lin(v_in, A) + lin(A, B) + 2 * B
    layer += c.num_feedforward_networks * (lin(B, c.intermediate_size) + lin(c.intermediate_size, B) + 2 * B)
    if c.use_bottleneck:
        layer += lin(B, H) + 2 * H
    encoder = emb + c.num_hidden_layers * layer
    pooler = lin(H, H) if c.classifier_activation else 0
    mlm = lin(H, H) + 2 * H + V * (H - E) + V
    nsp = lin(H, 2)
    return {"embeddings": emb, "per_layer": layer, "encoder": encoder, "pooler": pooler, "mlm_head": mlm,
            "nsp_head": nsp, "heads": pooler + mlm + nsp, "total": encoder + pooler + mlm + nsp}
