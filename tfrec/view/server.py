"""The viewer's web server: a threaded http.server on 127.0.0.1, a few read-only routes, 4xx pages for bad requests.

Routes (GET and HEAD only): `/` the gallery, `/record?s=SHARD&i=INDEX`, `/dataset`, and the pictures
`/thumb?...` and `/image?...`. Shards are named by their number in the dataset, never by a path,
so no request can reach a file outside the dataset. Every response forbids scripts (CSP) and
content sniffing; requests whose Host header is not the loopback address are refused (a guard
against DNS rebinding) unless the server was bound to another address on purpose.
"""
from __future__ import annotations

import ipaddress
import os
import sys
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from ..check import InspectOptions, VerifyOptions, inspect, verify
from ..codec.example import ExampleDecodeError
from ..errors import CorruptRecordError, TfrecError
from . import pages
from .source import DatasetView, NotFound, Selection
from .thumbs import Thumbnails

DEFAULT_PORT = 8000
PAGE_SIZE = 48
MAX_PAGE_SIZE = 500
MAX_INT = 1 << 62
# The label pass behind the class counts decodes every record (~10 us each, holding the GIL while
# pages are served): it starts by itself only below this many records (or bytes, for foreign
# files whose count is not known yet); beyond, the gallery offers a link that starts it.
AUTO_COUNT_RECORDS = 1_000_000
AUTO_COUNT_BYTES = 256 << 20
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class BadRequest(TfrecError):
    """A request the viewer cannot answer as asked (HTTP 400)."""


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict = field(default_factory=dict)


class _Job:
    """A piece of background work (the label pass, inspect, verify): started once, its result kept."""

    def __init__(self, fn: Callable[[], object]):
        self.result, self.error, self.done = None, None, threading.Event()
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn):
        try:
            self.result = fn()
        except Exception as e:  # noqa: BLE001  shown on the page; the server keeps serving
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.done.set()


class Viewer:
    """Answers the viewer's requests for one DatasetView (independent of HTTP, so tests can call it directly).

    Args:
        view: the dataset.
        verify: run `tfrec verify` (parse level) in the background and show its result on the dataset page.
        count_classes: start the label pass behind the class counts right away (else on first need).
    """

    def __init__(self, view: DatasetView, verify: bool = False, count_classes: bool = True):
        self.view = view
        self.thumbs = Thumbnails(view)
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        if count_classes and view.label is not None and _small(view):
            self._job("labels", view.label_all)
        if verify:
            self._job("verify", self._verify)

    def _job(self, name: str, fn: Callable[[], object]) -> _Job:
        with self._lock:
            if name not in self._jobs:
                self._jobs[name] = _Job(fn)
            return self._jobs[name]

    def _verify(self) -> dict:
        return verify(list(self.view.paths), VerifyOptions(progress=False, workers=1)).to_json()

    def _inspect(self) -> dict:
        report = inspect(list(self.view.paths), InspectOptions(progress=False, workers=1))
        return {"section": report.to_json()["inputs"][0], "problems": [str(p) for p in report.problems]}

    # ------------------------------------------------------------ routing

    def handle(self, target: str) -> Response:
        """The response to a GET of `target` (path and query): a page, a picture, or a 4xx page."""
        parts = urlsplit(target)
        route = {"/": self.gallery, "/record": self.record, "/dataset": self.dataset,
                 "/thumb": self.thumb, "/image": self.image}.get(parts.path)
        try:
            if route is None:
                raise NotFound(f"no page {parts.path!r} here: the viewer serves only this dataset's gallery, records and summary")
            try:
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items()}
            except ValueError as e:
                raise BadRequest(f"malformed query: {e}") from e
            return route(query)
        except NotFound as e:
            return self._error(HTTPStatus.NOT_FOUND, str(e))
        except BadRequest as e:
            return self._error(HTTPStatus.BAD_REQUEST, str(e))

    @staticmethod
    def _error(status: HTTPStatus, message: str) -> Response:
        return Response(status.value, pages.error_page(status.value, status.phrase, message).encode())

    @staticmethod
    def _html(text: str) -> Response:
        return Response(200, text.encode())

    # ------------------------------------------------------------ pages

    def gallery(self, q: dict) -> Response:
        order = q.get("order") or "file"
        if order not in ("file", "shuffle"):
            raise BadRequest(f"order must be 'file' or 'shuffle', not {order!r}")
        sel = Selection(split=q.get("split") or None, shard=_int(q, "shard", None), label=_int(q, "label", None, -MAX_INT),
                        shuffle=order == "shuffle", seed=_int(q, "seed", 0))
        page, per = _int(q, "page", 1, 1), _int(q, "per", PAGE_SIZE, 1, MAX_PAGE_SIZE)
        if sel.label is not None and self.view.label is None:
            raise BadRequest("this dataset has no label feature to filter by")
        if (sel.label is not None or q.get("count")) and self.view.label is not None:
            self._job("labels", self.view.label_all)  # the counts come from the same pass
        positions, total = self.view.page(sel, (page - 1) * per, per)
        if page > 1 and not positions:
            raise NotFound(f"no page {page}: the selection has {max(1, -(-total // per))} page(s) of {per}")
        cards = [self.thumbs.card(s, i) for s, i in positions]
        counting = "labels" in self._jobs
        return self._html(pages.gallery_page(self.view, sel, page, per, cards, total, self.view.class_counts(), counting))

    def record(self, q: dict) -> Response:
        shard, index = self._record(q)
        example, reason = None, ""
        try:
            _, example = self.view.example(shard, index)  # NotFound (404) for a record the dataset does not have
        except CorruptRecordError as e:
            reason = f"damaged record: {e.reason}"
        except ExampleDecodeError as e:
            reason = f"not a tf.train.Example: {e}"
        offset, framed = (int(v) for v in self.view.offsets(shard)[index])
        image_reason = self.thumbs.card(shard, index).reason if not reason else ""
        prev, nxt = self.view.neighbours(shard, index)
        return self._html(pages.record_page(self.view, shard, index, offset, framed, example, reason,
                                            image_reason, prev, nxt))

    def dataset(self, q: dict) -> Response:
        job = self._job("inspect", self._inspect)
        done = job.result if job.done.is_set() and job.error is None else None
        section = done["section"] if done else None
        if job.error:
            return self._html(pages.layout(f"{self.view.name}: dataset", f"<p class=warn>inspect failed: "
                                           f"{pages.esc(job.error)}</p>", self.view.name))
        verifying = self._jobs.get("verify")
        report = verifying.result if verifying is not None and verifying.done.is_set() else None
        running = verifying is not None and not verifying.done.is_set()
        verify_html = pages.verify_html(" ".join(self.view.paths), report, running)
        extra, counting = "", False
        if section is not None and not section.get("labels") and self.view.label is not None:
            counts = self.view.class_counts()
            counting = counts is None
            if counts is not None:
                rows = [{"label": k, "name": self.view.class_names[k] if 0 <= k < len(self.view.class_names) else None,
                         "count": v} for k, v in sorted(counts.items())]
                extra = pages.histogram_html(self.view.label.name, rows, self.view.label.num_classes)
        extra += pages.problems_html(self.view.problems + (done["problems"] if done else []))
        return self._html(pages.dataset_page(self.view, section, verify_html, extra, refresh=running or counting))

    def thumb(self, q: dict) -> Response:
        card = self.thumbs.card(*self._record(q))
        return Response(200, card.body, card.content_type, {"Cache-Control": "max-age=3600"})

    def _record(self, q: dict) -> tuple[int, int]:
        """The (shard, index) a request names; NotFound unless the shard holds that record."""
        shard, index = _int(q, "s"), _int(q, "i")
        if index >= self.view.count(self.view.shard(shard).id):
            raise NotFound(f"{self.view.shards[shard].name}: no record {index}; it holds {self.view.count(shard):,}")
        return shard, index

    def image(self, q: dict) -> Response:
        body, ctype, _ = self.thumbs.full(*self._record(q))
        return Response(200, body, ctype, {"Cache-Control": "max-age=3600"})


def _small(view: DatasetView) -> bool:
    if all(s.listed is not None for s in view.shards):
        return sum(s.listed for s in view.shards) < AUTO_COUNT_RECORDS
    return sum(os.path.getsize(s.path) for s in view.shards) <= AUTO_COUNT_BYTES


def _int(q: dict, name: str, default: int | None = ..., lo: int = 0, hi: int = MAX_INT) -> int | None:
    """A whole-number query parameter in [lo, hi]; missing: `default` (none given: a required parameter)."""
    raw = q.get(name)
    if raw is None or raw == "":
        if default is ...:
            raise BadRequest(f"missing parameter {name!r}")
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise BadRequest(f"parameter {name!r} must be a whole number, not {raw[:40]!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"parameter {name!r} must be between {lo} and {hi}, not {value}")
    return value


# ---------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    server_version = "tfrec-view"
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection gives its thread back after this many seconds

    def do_GET(self) -> None:
        self._answer(head=False)

    def do_HEAD(self) -> None:
        self._answer(head=True)

    def _refuse(self) -> None:
        self._send(Response(405, pages.error_page(405, "Method Not Allowed", "the viewer is read-only: GET only").encode(),
                            headers={"Allow": "GET, HEAD"}), head=False)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _answer(self, head: bool) -> None:
        server: ViewerServer = self.server  # type: ignore[assignment]
        if not server.host_allowed(self.headers.get("Host")):
            response = Viewer._error(HTTPStatus.BAD_REQUEST, "unexpected Host header: open the address the viewer printed")
        else:
            try:
                response = server.viewer.handle(self.path)
            except Exception as e:  # noqa: BLE001  one line on the page and in the log; the server keeps serving
                self.log_error("error answering %r: %s: %s", self.path, type(e).__name__, e)
                response = Viewer._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(e).__name__}: {e}")
        self._send(response, head)

    def _send(self, response: Response, head: bool) -> None:
        self.send_response(response.status)
        for k, v in {**SECURITY_HEADERS, "Content-Type": response.content_type,
                     "Content-Length": str(len(response.body)), **response.headers}.items():
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (http.server's signature)
        if self.server.verbose:  # type: ignore[attr-defined]
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")


class ViewerServer(ThreadingHTTPServer):
    """The HTTP server of one Viewer; `url` is where it listens."""

    daemon_threads = True

    def __init__(self, viewer: Viewer, host: str, port: int, verbose: bool = False):
        self.viewer, self.verbose = viewer, verbose
        super().__init__((host, port), _Handler)
        self.port = self.server_address[1]
        self.loopback = _is_loopback(host)
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/"
        names = ("127.0.0.1", "localhost", "[::1]", shown)
        self._hosts = {n for n in names} | {f"{n}:{self.port}" for n in names}

    def host_allowed(self, host: str | None) -> bool:
        """A Host header naming the loopback address (or any, when bound to another address on purpose)."""
        return not self.loopback or host is None or host.lower() in self._hosts


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(view: DatasetView, host: str = "127.0.0.1", port: int = DEFAULT_PORT, verify: bool = False,
                verbose: bool = False, count_classes: bool = True) -> ViewerServer:
    """A viewer server bound to host:port, or to a free port when that one is taken (port 0: any free port).

    Call `serve_forever()` on it (or `start_in_thread`), and `shutdown()`/`server_close()` to stop.
    """
    viewer = Viewer(view, verify=verify, count_classes=count_classes)
    try:
        return ViewerServer(viewer, host, port, verbose)
    except OSError as e:
        if port == 0 or e.errno not in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            raise TfrecError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
        return ViewerServer(viewer, host, 0, verbose)


def start_in_thread(server: ViewerServer) -> threading.Thread:
    """Serves in a daemon thread (for tests and notebooks); stop with server.shutdown(); server.server_close()."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return thread
