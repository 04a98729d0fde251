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
    """[B, S, H] at int [B, P] positions -> [B, P, H].

    Row ``b`` of the result holds ``sequence[b, positions[b, p]]`` for each ``p`` (``tf.gather`` with
    ``batch_dims=1``; positions are cast to int32). Padded predictions gather a real token too; their
    zero ``masked_lm_weights`` keep them out of the loss.

    Args:
        sequence: tf.Tensor. [B, S, H] per-token vectors (e.g. the encoder's ``sequence_output``).
        positions: tf.Tensor. Integer [B, P] indices into S (e.g. ``masked_lm_positions``).

    Returns:
        tf.Tensor. [B, P, H], dtype of ``sequence``.

    Example:
        >>> gather_positions(tf.reshape(tf.range(12.0), [1, 4, 3]), tf.constant([[3, 1]])).numpy().tolist()
        [[[9.0, 10.0, 11.0], [3.0, 4.0, 5.0]]]
    """
    return tf.gather(sequence, tf.cast(positions, tf.int32), batch_dims=1)


def pretraining_outputs(model, features, *, training: bool, output_hidden_states: bool = False,
                        output_attentions: bool = False, heads: bool = True, num_layers: int | None = None) -> dict:
    """``MobileBertForPreTraining`` forward with the MLM head applied at the masked positions only.

    Returns the encoder outputs plus ``mlm_logits`` [B, P, V] (at ``masked_lm_positions``) and
    ``nsp_logits`` [B, 2] when ``heads``. The model's own ``call`` computes logits for all S
    positions; P is about S / 6, and the [*, V] product dominates the head's cost. ``num_layers``
    runs only the first blocks of the encoder (see ``MobileBertEncoder.call``); use it without heads.

    Args:
        model: a ``MobileBertForPreTraining`` (its ``encoder``, ``mlm`` and ``nsp`` layers are called).
        features: dict. A pre-training batch: the model inputs (``input_ids``, ``input_mask``,
            ``segment_ids``, optional ``position_ids``; other keys are ignored) and, with ``heads``,
            ``masked_lm_positions`` int [B, P].
        training: bool. Dropout on (True) or off.
        output_hidden_states: bool. Add ``hidden_states`` (list of L+1 [B, S, H]).
        output_attentions: bool. Add ``attention_scores`` and ``attention_probs`` (lists of L [B, N, S, S]).
        heads: bool. Apply the MLM and NSP heads.
        num_layers: int or None. Run only the first ``num_layers`` blocks (None: all).

    Returns:
        dict. ``sequence_output`` [B, S, H], ``pooled_output`` [B, H], the requested extras and, with
        ``heads``, ``mlm_logits`` [B, P, V] and ``nsp_logits`` [B, 2].

    Example:
        >>> out = pretraining_outputs(model, batch, training=True)  # doctest: +SKIP
        >>> out["mlm_logits"].shape, out["nsp_logits"].shape  # doctest: +SKIP
        (TensorShape([8, 20, 30522]), TensorShape([8, 2]))
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
    """Sum of ``x`` over all replicas (``x`` itself outside ``strategy.run``).

    Inside ``strategy.run`` with several replicas in sync this is an all-reduce (every replica must
    call it); with one replica, or in cross-replica context, ``x`` is returned unchanged.

    Args:
        x: tf.Tensor. This replica's value.

    Returns:
        tf.Tensor. Same shape and dtype as ``x``.

    Example:
        >>> count = global_sum(tf.reduce_sum(weights))  # doctest: +SKIP
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def masked_lm_loss(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor, targets: tf.Tensor | None = None):
    """Cross-entropy over masked predictions, normalized by the global prediction count.

    ``logits`` [B, P, V]; ``labels`` int [B, P]; ``weights`` [B, P] (1 real, 0 padding);
    ``targets`` optional soft targets [B, P, V] (pre-training distillation) replacing the one-hot
    labels. Returns ``(loss, accuracy)``, each this replica's share (sum over replicas = global).

    Computed in float32: ``sum(w * ce) / N`` and ``sum(w * correct) / N`` over this replica's predictions,
    N the global sum of ``weights`` (rounded to an integer; 0 gives 0). Accuracy is the argmax of
    ``logits`` against ``labels``, also with ``targets``. The targets get no gradient (``stop_gradient``).
    Call it inside ``strategy.run`` (or outside any strategy): it all-reduces the weight count.

    Args:
        logits: tf.Tensor. [B, P, V] MLM logits at the masked positions (any float dtype).
        labels: tf.Tensor. Integer [B, P] ids of the original tokens (``masked_lm_ids``).
        weights: tf.Tensor. [B, P] (``masked_lm_weights``): 1 for a real prediction, 0 for padding.
        targets: tf.Tensor or None. [B, P, V] probabilities used instead of the one-hot ``labels``.

    Returns:
        tuple. ``(loss, accuracy)``, float32 scalars.

    Example:
        >>> loss, acc = masked_lm_loss(tf.zeros([1, 2, 4]), tf.constant([[1, 2]]), tf.constant([[1.0, 0.0]]))
        >>> round(float(loss), 4)  # ln 4: uniform logits over 4 tokens, one real prediction
        1.3863
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
    global batch mean.

    Both are ``tf.nn.compute_average_loss`` of the per-example values (sparse softmax cross-entropy in
    float32, and argmax == label): the sum over this replica's examples divided by the global batch.

    Args:
        logits: tf.Tensor. [B, 2] NSP logits (any float dtype); class 1 is "random next sentence".
        labels: tf.Tensor. Integer [B] (``next_sentence_labels``).
        global_batch_size: int or None. The divisor; None: B x the strategy's replicas in sync.

    Returns:
        tuple. ``(loss, accuracy)``, float32 scalars.

    Example:
        >>> loss, acc = next_sentence_loss(tf.constant([[2.0, 0.0], [0.0, 2.0]]), tf.constant([0, 0]))
        >>> float(acc)
        0.5
    """
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    correct = tf.cast(tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), labels), tf.float32)
    return (tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size),
            tf.nn.compute_average_loss(correct, global_batch_size=global_batch_size))
