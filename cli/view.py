"""`tfrec view`: browse a TFRecord dataset in a web browser (a local, read-only server; no TensorFlow)."""
from __future__ import annotations

import click

from ._common import (emit, existing_paths, json_option, quiet_option, read_compression_option, schema_option,
                      sigterm_as_interrupt)


@click.command()
@click.argument("paths", nargs=-1, required=True, callback=existing_paths, metavar="PATH...")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port to listen on; a free one is used when it is taken (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback shows your data to the network: a warning is printed.")
@click.option("--open", "open_browser", is_flag=True, help="Open the gallery in a web browser.")
@schema_option("Schema of foreign files: a built-in name or a JSON file [default: inferred].")
@read_compression_option()
@click.option("--verify", "run_verify", is_flag=True,
              help="Run `tfrec verify` in the background and show its result on the dataset page.")
@click.option("--log", is_flag=True, help="Log every request on stderr.")
@json_option
@quiet_option
def view(paths, port, host, open_browser, schema, compression, run_verify, log, as_json, quiet):
    """Browse a TFRecord dataset in your web browser: gallery, records, summary.

    PATH is a tfrec output directory (with dataset.json), or TFRecord files tfrec did not write
    (files, directories or globs; their schema is inferred unless --schema is given). The viewer
    reads records through the .idx files (a foreign file without one is scanned once), so any page
    of any dataset opens at once. It is read-only, serves only this dataset's records, and listens
    on 127.0.0.1 unless --host says otherwise. Stop it with Ctrl-C.

    \b
    Pages:
      /                 thumbnails, filtered by split, class and shard; file order or a seeded shuffle
      /record?s=S&i=I   one record: the image at full size and every feature
      /dataset          what `tfrec inspect` reports, and verify's result with --verify

    \b
    Examples:
      tfrec view out/cifar10 --open
      tfrec view 'tfds/mnist/3.0.1/*.tfrecord*' --port 8080
    """
    from tfrec.view.server import make_server
    from tfrec.view.source import DatasetView

    dataset = DatasetView(paths, schema=schema, compression=None if compression == "auto" else compression)
    server = make_server(dataset, host, port, verify=run_verify, verbose=log)
    if not server.loopback:
        click.echo(f"warning: listening on {host}: anyone who can reach this address can browse the dataset", err=True)
    records = sum(dataset.count(s.id) for s in dataset.shards if s.listed is not None)
    what = f"{len(dataset.shards)} shard(s)" + (f", {records:,} records" if dataset.is_dataset else "")
    emit({"url": server.url, "host": host, "port": server.port, "shards": len(dataset.shards)}, as_json,
         f"viewing {dataset.name} ({what}) at {server.url}  (Ctrl-C to stop)")
    if port and server.port != port and not quiet:
        click.echo(f"note: port {port} was taken; using {server.port}", err=True)
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        with sigterm_as_interrupt():
            server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        if not quiet:
            click.echo("stopped", err=True)
    finally:
        server.server_close()
