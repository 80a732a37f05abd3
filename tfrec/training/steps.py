"""The inner steps, each one compiled function: train (forward, loss, gradients, update) and predict."""
from __future__ import annotations

import keras
import tensorflow as tf


class Steps:
    """`train(images, labels) -> (mean loss, correct count)` and `logits(images)`, compiled with tf.function.

    They know nothing of timers, checkpoints or summaries (STYLE.md 15). Labels are class ids, or
    one-hot/soft rows (mixup); the loss is softmax cross-entropy with optional label smoothing. Under a
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
        self.train = tf.function(replica, reduce_retracing=True)
        self.logits = tf.function(lambda images: tf.cast(model(images, training=False), tf.float32),
                                  reduce_retracing=True)

    def targets(self, labels: tf.Tensor) -> tf.Tensor:
        if labels.shape.rank == 1:
            return tf.one_hot(labels, self.num_classes, dtype=tf.float32)
        return tf.cast(labels, tf.float32)

    def _train_replica(self, images, labels):
        targets = self.targets(labels)
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = tf.cast(self.model(images, training=True), tf.float32)
            loss = tf.nn.compute_average_loss(self.loss_fn(targets, logits))
            if self.model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(self.model.losses))
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply(grads, variables)
        right = tf.reduce_sum(tf.cast(tf.argmax(logits, -1) == tf.argmax(targets, -1), tf.float32))
        return loss, right

    def batch_size(self, labels) -> int:
        if self.strategy is not None:
            return sum(int(t.shape[0]) for t in self.strategy.experimental_local_results(labels))
        return int(labels.shape[0])
