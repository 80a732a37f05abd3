"""`tfrec serve-data`: a tf.data service dispatcher or worker, for readers whose own CPUs cannot keep up."""
from __future__ import annotations

import time

import click

from ._common import emit, import_tensorflow_quietly, json_option, quiet_option, sigterm_as_interrupt


@click.command("serve-data")
@click.option("--dispatcher", "dispatcher_port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Run the dispatcher on PORT (0: any free port; the address is printed).")
@click.option("--worker", is_flag=True, help="Run a worker that registers with --dispatcher-address.")
@click.option("--dispatcher-address", metavar="HOST:PORT", help="With --worker: the dispatcher to register with.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="With --worker: the worker's port (0: any free port).")
@click.option("--host", help="With --worker: the name readers reach this worker by [default: this machine's "
                             "host name]; use 127.0.0.1 when everything runs on one machine.")
@click.option("--worker-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="S",
              help="With --dispatcher: drop a worker silent for S seconds (readers stop waiting for it).")
@click.option("--work-dir", type=click.Path(file_okay=False),
              help="With --dispatcher: journal its state here, so a restarted dispatcher resumes its jobs.")
@json_option
@quiet_option
def serve_data(dispatcher_port, worker, dispatcher_address, port, host, worker_timeout, work_dir, as_json, quiet):
    """Run a tf.data service dispatcher or worker until Ctrl-C or SIGTERM.

    For a GPU host whose own CPUs cannot decode and augment as fast as it trains: start one
    dispatcher and, on machines with spare cores, workers; then read with
    make_dataset(..., data_service="grpc://HOST:PORT"). The workers read the shards (the same paths,
    or gs:// URLs), parse, decode, augment, and send finished batches; the GPU host only receives.

    Servers listen on every interface, without encryption or authentication: run them on a
    trusted network only.

    \b
    Examples:
      tfrec serve-data --dispatcher 5050                                   # on any machine
      tfrec serve-data --worker --dispatcher-address dispatch-host:5050    # on each CPU machine
      # then, on the GPU host:
      #   tfrec.make_dataset("/mnt/shared/imagenet", batch_size=256, image_size=224, augment="imagenet",
      #                      data_service="grpc://dispatch-host:5050")
    """
    if (dispatcher_port is None) == (not worker):
        raise click.UsageError("give --dispatcher PORT, or --worker with --dispatcher-address HOST:PORT")
    if worker and not dispatcher_address:
        raise click.UsageError("--worker needs --dispatcher-address HOST:PORT")
    import_tensorflow_quietly()
    from tfrec.read import service

    if worker:
        server = service.start_worker(dispatcher_address, port, host)
        bound = server._address.rsplit(":", 1)[-1]
        result = {"role": "worker", "port": int(bound), "address": f"{host or _hostname()}:{bound}",
                  "dispatcher": service.service_address(dispatcher_address)}
    else:
        server = service.start_dispatcher(dispatcher_port, worker_timeout, work_dir)
        bound = server.target.rsplit(":", 1)[-1]
        result = {"role": "dispatcher", "port": int(bound), "address": f"grpc://{_hostname()}:{bound}"}
    emit(result, as_json, f"tf.data service {result['role']} serving on port {result['port']} "
                                           f"({result['address']}); Ctrl-C to stop")
    with sigterm_as_interrupt():
        try:
            while True:  # a sleep, not server.join(): Python's signal handlers run between sleeps
                time.sleep(0.5)
        except KeyboardInterrupt:
            server.stop()
            if not quiet and not as_json:
                click.echo(f"tf.data service {result['role']} stopped", err=True)


def _hostname() -> str:
    import socket

    return socket.gethostname()
