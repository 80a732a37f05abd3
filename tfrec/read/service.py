"""The tf.data service: dispatcher and worker servers, and the client side of a reader whose work runs on them."""
from __future__ import annotations

import queue
import re
import socket
import threading

from .._tfimport import import_tensorflow_quietly

import_tensorflow_quietly()  # before TensorFlow's first import: without its C++ start-up banner
import tensorflow as tf  # noqa: E402

from ..errors import TfrecError
from .options import DATA_SERVICE_TIMEOUT_S, PROCESSING_MODES

# A worker heartbeats every HEARTBEAT_S; the dispatcher drops a worker silent for WORKER_TIMEOUT_S, and
# only then do readers stop waiting for it. TensorFlow's defaults (30 s heartbeat, and a timeout it
# picks) leave a reader waiting minutes on a dead worker; a heartbeat a second costs the dispatcher
# one small RPC per worker per second.
HEARTBEAT_S = 1.0
WORKER_TIMEOUT_S = 10.0
_ADDRESS = re.compile(r"^(grpc://)?(\[[0-9a-fA-F:]+\]|[\w.-]+):(\d{1,5})$")


def service_address(address: str) -> str:
    """'grpc://HOST:PORT' from 'grpc://HOST:PORT' or 'HOST:PORT'.

    Raises:
        TfrecError: not of that form.
    """
    m = _ADDRESS.match(address.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise TfrecError(f"data_service: expected grpc://HOST:PORT (a `tfrec serve-data --dispatcher PORT`), "
                         f"found {address!r}")
    return f"grpc://{m.group(2)}:{m.group(3)}"


def start_dispatcher(port: int = 0, worker_timeout_s: float = WORKER_TIMEOUT_S,
                     work_dir: str | None = None) -> tf.data.experimental.service.DispatchServer:
    """Starts a dispatcher (it listens on every interface); `.target` is its grpc:// address.

    Args:
        port: 0 for any free port.
        worker_timeout_s: a worker silent this long is dropped, and readers stop waiting for it.
        work_dir: journal the dispatcher's state here, so that a restarted dispatcher resumes its jobs.
    """
    config = tf.data.experimental.service.DispatcherConfig(
        port=port, work_dir=work_dir, fault_tolerant_mode=bool(work_dir),
        worker_timeout_ms=int(worker_timeout_s * 1000))
    return _started(lambda: tf.data.experimental.service.DispatchServer(config), "dispatcher", port)


def start_worker(dispatcher: str, port: int = 0, host: str | None = None,
                 heartbeat_s: float = HEARTBEAT_S) -> tf.data.experimental.service.WorkerServer:
    """Starts a worker that registers with `dispatcher` (HOST:PORT) and runs readers' pipelines.

    Args:
        dispatcher: the dispatcher's HOST:PORT (or grpc://HOST:PORT).
        port: the worker's port; 0 for any free port.
        host: the name readers reach this worker by (default: this machine's host name). The
            dispatcher gives readers this address, so it must resolve on the reading machines.
        heartbeat_s: how often the worker tells the dispatcher it is alive.
    """
    address = service_address(dispatcher)[len("grpc://"):]
    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=address, port=port, worker_address=f"{host or socket.gethostname()}:%port%",
        heartbeat_interval_ms=int(heartbeat_s * 1000))
    return _started(lambda: tf.data.experimental.service.WorkerServer(config), "worker", port)


def _started(make, role: str, port: int):
    try:
        return make()
    except (tf.errors.OpError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TfrecError(f"cannot start the tf.data service {role} on port {port}: {first}") from None


def distribute(ds: tf.data.Dataset, service: str, processing_mode: str, batch_size: int, drop_remainder: bool,
               expected_records: int | None, timeout_s: float = DATA_SERVICE_TIMEOUT_S) -> tf.data.Dataset:
    """The reader's client side: `ds` (built to run on the workers) read from the tf.data service.

    The service waits forever for a worker it lost (TensorFlow 2.21 never drops a dead worker's part
    of a job), so batches pass through a watchdog here: waiting `timeout_s` for one fails the pass.
    In distributed_epoch mode each worker batches its own files, so its last batch may be short: the
    batches are re-cut here to `batch_size` (`drop_remainder` applied here, not on the workers), and,
    when the epoch's record count is known, a pass that ends short fails instead of passing (a worker
    restarted mid-epoch drops the files it held: the service hands each out at most once).

    Raises:
        TfrecError: an unknown processing_mode or a malformed address.
    """
    if processing_mode not in PROCESSING_MODES:
        raise TfrecError(f"processing_mode: expected one of {', '.join(PROCESSING_MODES)}, found {processing_mode!r}")
    policy = {"distributed_epoch": tf.data.experimental.service.ShardingPolicy.DYNAMIC,
              "parallel_epochs": tf.data.experimental.service.ShardingPolicy.OFF}[processing_mode]
    address = service_address(service)
    served = ds.apply(tf.data.experimental.service.distribute(processing_mode=policy, service=address))
    out = watched(served, address, timeout_s, expected_records)
    if processing_mode == "distributed_epoch":
        out = out.rebatch(batch_size, drop_remainder=drop_remainder)
    return out.prefetch(tf.data.AUTOTUNE)


class ServiceError(TfrecError):
    """The tf.data service lost a worker mid-pass: no batch within the timeout, or an epoch ended short."""


def watched(ds: tf.data.Dataset, service: str, timeout_s: float, expected: int | None = None) -> tf.data.Dataset:
    """`ds`'s batches, pulled by a thread: a wait over `timeout_s` for the next one, or a pass that ends
    with other than `expected` records (batch rows), raises ServiceError (InvalidArgumentError to
    tf.data's consumer, with this message). Only the consumer's own waiting counts against the timeout.
    Once `expected` records are in, the pass ends without waiting for the service to say so."""

    def batches():
        pending: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()
        threading.Thread(target=_pump, args=(ds, pending, stop), daemon=True).start()
        records = 0
        try:
            while True:
                try:
                    kind, item = pending.get(timeout=timeout_s)
                except queue.Empty:
                    raise ServiceError(
                        f"tf.data service {service}: no batch for {timeout_s:g} s after {records:,} records"
                        + (f" of {expected:,}" if expected is not None else "") + ": a worker is unreachable "
                        "(stopped, or cut off); the service waits for it forever, so this pass stops here "
                        "(restart the worker and read again; data_service_timeout sets the wait)") from None
                if kind == "error":
                    raise item
                if kind == "end":
                    break
                records += len(tf.nest.flatten(item)[0])
                yield item
                if expected is not None and records >= expected:
                    break  # all there: a lost worker's task, which never ends, need not be waited for
        finally:
            stop.set()
        if expected is not None and records != expected:
            raise ServiceError(f"tf.data service {service} (distributed_epoch): the pass ended with {records:,} of "
                               f"its {expected:,} records: a worker was lost or restarted mid-epoch, and the files "
                               "it held went with it (each is handed out at most once); read the epoch again")

    return tf.data.Dataset.from_generator(batches, output_signature=ds.element_spec)


def _pump(ds: tf.data.Dataset, pending: queue.Queue, stop: threading.Event) -> None:
    """Moves `ds`'s elements into `pending` until the end, an error, or `stop`."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    try:
        for element in ds:
            if not put(("batch", element)):
                return
        put(("end", None))
    except Exception as e:  # noqa: BLE001 - handed to the consumer, which raises it
        put(("error", e))
