"""The inner steps, each one compiled function: train (forward, loss, gradients, update) and predict."""
from __future__ import annotations

import re

import keras
import tensorflow as tf


LABEL_CHECK = "tfrec: class label outside [0, num_classes):"  # marks the step's label check in TensorFlow's error


def label_in_error(error: Exception) -> int | None:
    """The class label named by the step's check (or by the sparse loss's own range error), else None."""
    text = str(error)
    m = re.search(re.escape(LABEL_CHECK) + r"\]\s*\[(-?\d+)", text) or re.search(r"label value of (-?\d+)", text)
    return int(m.group(1)) if m else None


class Steps:
    """`train(images, labels) -> [mean loss, correct count]` and `logits(images)`, compiled with tf.function.

    They know nothing of timers, checkpoints or summaries (STYLE.md 15). Labels are class ids (checked
    to be in range: an InvalidArgumentError that label_in_error reads), or one-hot/soft rows (mixup); the loss is softmax cross-entropy with optional label smoothing. Under a
    distribution strategy each replica's loss is averaged over the global batch and the results summed.
    """

    def __init__(self, model: keras.Model, optimizer, num_classes: int, label_smoothing: float = 0.0,
                 strategy: tf.distribute.Strategy | None = None):
        self.model, self.optimizer, self.num_classes, self.strategy = model, optimizer, num_classes, strategy
        self.loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing,
                                                            reduction=None)
        replica = self._train_replica
        if strategy is not None:
            def replica(images, labels):  # noqa: F811 - the distributed form of the same step
                loss, right = strategy.run(self._train_replica, args=(images, labels))
                sum_ = tf.distribute.ReduceOp.SUM
                return strategy.reduce(sum_, loss, axis=None), strategy.reduce(sum_, right, axis=None)
        # One [loss, correct] tensor: the loop reads both with one host transfer a step.
        self.train = tf.function(lambda images, labels: tf.stack(replica(images, labels)), reduce_retracing=True)
        self.logits = tf.function(lambda images: tf.cast(model(images, training=False), tf.float32),
                                  reduce_retracing=True)

    def trace(self, element_spec) -> None:
        """Compiles the train step for batches of `element_spec` ahead of the first batch (not for
        distributed input or batches of unknown rank, which compile on their first step)."""
        if self.strategy is None and all(spec.shape.rank is not None for spec in element_spec):
            self.train.get_concrete_function(*element_spec)

    def targets(self, labels: tf.Tensor) -> tf.Tensor:
        if labels.shape.rank == 1:
            return tf.one_hot(labels, self.num_classes, dtype=tf.float32)
        return tf.cast(labels, tf.float32)

    def per_example_loss(self, labels, logits):
        if labels.shape.rank == 1 and not self.loss_fn.label_smoothing:  # class ids: no one-hot needed
            return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        return self.loss_fn(self.targets(labels), logits)

    def checked(self, labels: tf.Tensor) -> tf.Tensor:
        """Class ids, after an in-graph check that each is in [0, num_classes): the loss would fail with
        TensorFlow's error on a CPU and turn NaN on a GPU, and a one-hot would be a silent row of zeros."""
        if labels.shape.rank != 1 or not labels.dtype.is_integer:
            return labels  # one-hot or soft rows: the ids are gone
        outside = tf.logical_or(labels < 0, labels >= self.num_classes)
        check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(outside)),
                                    [LABEL_CHECK, tf.boolean_mask(labels, outside)[:1]])
        with tf.control_dependencies([check]):
            return tf.identity(labels)

    def _train_replica(self, images, labels):
        labels = self.checked(labels)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(images, training=True), tf.float32)
            loss = tf.nn.compute_average_loss(self.per_example_loss(labels, logits))
            if self.model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.model.losses))
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        ids = labels if labels.shape.rank == 1 else tf.argmax(labels, -1)
        right = tf.reduce_sum(tf.cast(tf.argmax(logits, -1, output_type=ids.dtype) == ids, tf.float32))
        return loss, right

    def batch_size(self, labels) -> int:
        if self.strategy is not None:
            return sum(int(t.shape[0]) for t in self.strategy.experimental_local_results(labels))
        return int(labels.shape[0])
