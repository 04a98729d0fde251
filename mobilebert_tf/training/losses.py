"""Pre-training losses (MLM + NSP) that give the same value on one device and under ``tf.distribute``.

Every loss here is a replica's share of the global loss: summing it over replicas
(``strategy.reduce(SUM, ...)``) gives the loss of the whole global batch, and so do the
gradients, which the optimizer sums across replicas. NSP is averaged over the global batch
(``tf.nn.compute_average_loss``); MLM over the global number of masked predictions, which a
cross-replica sum provides, as in BERT (``sum(w * ce) / sum(w)`` over the batch).
"""
from __future__ import annotations

import tensorflow as tf

from mobilebert_tf.models import INPUT_KEYS


def gather_positions(sequence: tf.Tensor, positions: tf.Tensor) -> tf.Tensor:
    """[B, S, H] at int [B, P] positions -> [B, P, H]."""
    return tf.gather(sequence, tf.cast(positions, tf.int32), batch_dims=1)


def pretraining_outputs(model, features, *, training: bool, output_hidden_states: bool = False,
                        output_attentions: bool = False, heads: bool = True, num_layers: int | None = None) -> dict:
    """``MobileBertForPreTraining`` forward with the MLM head applied at the masked positions only.

    Returns the encoder outputs plus ``mlm_logits`` [B, P, V] (at ``masked_lm_positions``) and
    ``nsp_logits`` [B, 2] when ``heads``. The model's own ``call`` computes logits for all S
    positions; P is about S / 6, and the [*, V] product dominates the head's cost. ``num_layers``
    runs only the first blocks of the encoder (see ``MobileBertEncoder.call``); use it without heads.
    """
    inputs = {k: features[k] for k in INPUT_KEYS if k in features}
    extra = {} if num_layers is None else {"num_layers": num_layers}
    out = dict(model.encoder(inputs, training=training, output_hidden_states=output_hidden_states,
                             output_attentions=output_attentions, **extra))
    if heads:
        masked = gather_positions(out["sequence_output"], features["masked_lm_positions"])
        out["mlm_logits"] = model.mlm(masked, model.encoder.word_embeddings)
        out["nsp_logits"] = model.nsp(out["pooled_output"])
    return out


def global_sum(x: tf.Tensor) -> tf.Tensor:
    """Sum of ``x`` over all replicas (``x`` itself outside ``strategy.run``)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def masked_lm_loss(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor, targets: tf.Tensor | None = None):
    """Cross-entropy over masked predictions, normalized by the global prediction count.

    ``logits`` [B, P, V]; ``labels`` int [B, P]; ``weights`` [B, P] (1 real, 0 padding);
    ``targets`` optional soft targets [B, P, V] (pre-training distillation) replacing the one-hot
    labels. Returns ``(loss, accuracy)``, each this replica's share (sum over replicas = global).
    """
    logits = tf.cast(logits, tf.float32)
    log_probs = tf.nn.log_softmax(logits, axis=-1)
    labels = tf.cast(labels, tf.int32)
    if targets is None:
        per_token = -tf.gather(log_probs, labels, batch_dims=2)
    else:
        per_token = -tf.reduce_sum(tf.stop_gradient(targets) * log_probs, axis=-1)
    weights = tf.cast(weights, tf.float32)
    count = tf.cast(tf.round(global_sum(tf.reduce_sum(weights))), tf.int32)
    flat_w = tf.reshape(weights, [-1])
    loss = tf.nn.compute_average_loss(tf.reshape(per_token, [-1]), sample_weight=flat_w, global_batch_size=count)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
    accuracy = tf.nn.compute_average_loss(tf.reshape(correct, [-1]), sample_weight=flat_w, global_batch_size=count)
    return loss, accuracy


def next_sentence_loss(logits: tf.Tensor, labels: tf.Tensor, global_batch_size: int | None = None):
    """NSP cross-entropy: ``logits`` [B, 2], ``labels`` int [B] -> ``(loss, accuracy)`` shares of the
    global batch mean."""
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
    return (tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size),
            tf.nn.compute_average_loss(correct, global_batch_size=global_batch_size))
