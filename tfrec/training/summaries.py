"""TensorBoard summaries written with TensorFlow's own summary writer, without the tensorboard package.

tf.summary.scalar and tf.summary.image live in the tensorboard package (not a dependency of
tensorflow-cpu); this writes the same event records TensorBoard's scalar and image plugins read,
through tf.summary.write and the plugin's name in the summary metadata.
"""
from __future__ import annotations

import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _metadata(plugin: str) -> bytes:
    meta = summary_pb2.SummaryMetadata()
    meta.plugin_data.plugin_name = plugin
    meta.plugin_data.content = b""
    return meta.SerializeToString()


def scalar(name: str, value: float, step: int) -> None:
    """A scalar for TensorBoard's scalars dashboard (inside a writer's `as_default()`)."""
    tf.summary.write(name, tf.constant(float(value), tf.float32), step=step, metadata=_metadata("scalars"))


def images(name: str, batch: tf.Tensor, step: int, max_outputs: int = 6) -> None:
    """Up to `max_outputs` images (float in [0, 1] or uint8, N x H x W x C) for TensorBoard's images dashboard."""
    batch = batch[:max_outputs]
    if batch.dtype != tf.uint8:
        batch = tf.image.convert_image_dtype(tf.clip_by_value(batch, 0.0, 1.0), tf.uint8, saturate=True)
    shape = tf.shape(batch)
    encoded = tf.map_fn(tf.image.encode_png, batch, fn_output_signature=tf.string)
    tensor = tf.concat([tf.strings.as_string([shape[2], shape[1]]), encoded], 0)  # width, height, then the PNGs
    tf.summary.write(name, tensor, step=step, metadata=_metadata("images"))
