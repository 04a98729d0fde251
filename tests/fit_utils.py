"""Plain Adam loops that fit a classifier to packed examples (mobilebert_tf.export.task_data.TaskInputs) or a QA model to
SQuAD features (mobilebert_tf.data.squad)."""
import numpy as np
import tensorflow as tf
import tf_keras as keras

INPUT_KEYS = ("input_ids", "input_mask", "segment_ids")


def fit_classifier(model, data, steps: int, lr: float = 2e-3, batch_size: int = 16) -> float:
    """``steps`` Adam steps over ``data`` (cycled in order); returns the last batch's loss."""
    opt = keras.optimizers.Adam(lr)
    loss = None
    for step in range(steps):
        idx = np.arange(step * batch_size, (step + 1) * batch_size) % len(data)
        batch = {k: getattr(data, k)[idx] for k in INPUT_KEYS}
        with tf.GradientTape() as tape:
            logits = model(batch, training=True)["logits"]
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(data.labels[idx], logits,
                                                                              from_logits=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return float(loss)


def fit_qa(model, features, steps: int, lr: float = 2e-3) -> float:
    """``steps`` full-batch Adam steps of ``model`` (a built MobileBertForQuestionAnswering) on SQuAD
    ``features``; returns the last loss (mean of the start and end cross-entropies)."""
    from mobilebert_tf.data.squad import features_to_arrays

    arrays = features_to_arrays(features)
    inputs = {k: tf.constant(arrays[k]) for k in INPUT_KEYS}
    starts, ends = tf.constant(arrays["start_positions"]), tf.constant(arrays["end_positions"])
    opt = keras.optimizers.Adam(lr)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = model(inputs, training=True)
            ce = keras.losses.sparse_categorical_crossentropy
            loss = 0.5 * (tf.reduce_mean(ce(starts, out["start_logits"], from_logits=True))
                          + tf.reduce_mean(ce(ends, out["end_logits"], from_logits=True)))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    loss = None
    for _ in range(steps):
        loss = step()
    return float(loss)
