"""A plain Adam loop that fits a classifier to packed examples (export.task_data.TaskInputs)."""
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
