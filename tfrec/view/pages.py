"""The viewer's HTML: gallery, record, dataset and error pages, and the inspect section they share with the report.

Every string that comes from the data (file names, class names, feature names and values) goes
through `esc` (html.escape, quotes included) before it reaches the page; URLs are built with
urlencode and escaped too. Pages carry no script at all.
"""
from __future__ import annotations

import html
import os
from typing import Iterable, Sequence
from urllib.parse import urlencode

from ..check import SKIPPED_SHOWN
from ..codec.images import as_text, image_format, image_header
from ..codec.schema import FeatureSpec
from .source import DatasetView, Selection

SUMMARY_BYTES = 32  # binary values longer than this are shown as their size and first bytes
TEXT_CHARS = 4000  # text longer than this is cut on the record page
NUMBERS_SHOWN = 64  # numeric lists longer than this are cut
HISTOGRAM_ROWS = 60  # classes drawn in a histogram; the rest are counted in one line

REFRESH = "<meta http-equiv=refresh content=2>"
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#16161c;color:#e6e6ea}
a{color:#8cb4ff}header{padding:10px 16px;background:#22222b;display:flex;gap:18px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:18px;margin:0}main{padding:12px 16px}
.side{float:left;width:220px;margin-right:16px}.content{overflow:hidden}
.side ul{list-style:none;padding:0;margin:0 0 12px}.side li{padding:1px 0}.side .on{font-weight:bold}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.card{width:136px;background:#22222b;border-radius:4px;padding:4px;text-decoration:none;color:inherit}
.card img{width:128px;height:128px;object-fit:contain;image-rendering:pixelated;display:block;background:#101014}
.card .cap{display:block;font-size:12px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card .bad{color:#f0b060;white-space:normal}
table{border-collapse:collapse;margin:6px 0 14px}td,th{padding:2px 10px 2px 0;text-align:left;vertical-align:top}
th{color:#a0a0b0;font-weight:normal}.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#5a8ef0;height:10px;display:inline-block}.warn{color:#f0b060}.ok{color:#7fd07f}
.value{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,monospace;font-size:13px}
.full{max-width:100%;image-rendering:pixelated;min-width:112px;background:#101014}
form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:center;margin-bottom:10px}
.value ol{margin:0;padding-left:1.6em}.pager{margin:10px 0}.samples .grid{margin-bottom:8px}code{background:#22222b;padding:1px 4px}
"""


def esc(value: object) -> str:
    """Any value as HTML text: &, <, >, " and ' escaped."""
    return html.escape(str(value), quote=True)


def human(value: object) -> str:
    """A fact as a person writes it: yes/no for a boolean, '-' for nothing, else the value."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def url(path: str, **params: object) -> str:
    """A link within the viewer as a quoted attribute value, its query built from the non-None params."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return '"' + esc(f"{path}?{query}" if query else path) + '"'



def layout(title: str, body: str, name: str = "", nav: bool = True, refresh: bool = False) -> str:
    """A whole page: head (inline CSS, no scripts; a 2 s refresh while work is under way), a header with links, the body."""
    links = ('<a href="/">gallery</a> <a href="/dataset">dataset</a>' if nav else "")
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{esc(title)}</title>"
            f"<meta name=viewport content='width=device-width'>{REFRESH if refresh else ''}<style>{CSS}</style></head><body>"
            f"<header><h1>{esc(name or title)}</h1>{links}</header><main>{body}</main></body></html>")


def error_page(status: int, reason: str, message: str) -> str:
    """A 4xx page: what was wrong with the request, and a way back."""
    return layout(f"{status} {reason}", f"<p class=warn>{esc(message)}</p><p><a href='/'>back to the gallery</a></p>",
                  f"{status} {reason}")


# ---------------------------------------------------------------- gallery


def gallery_page(view: DatasetView, sel: Selection, page: int, per: int, cards: Sequence, total: int,
                 counts: dict[int, int] | None, counting: bool = True) -> str:
    """The gallery: filters, class list with counts (or their progress, or a link to count), thumbnails, a pager."""
    side = [_class_list(view, sel, counts, counting), _split_list(view, sel), _shard_list(view, sel)]
    grid = "".join(_card_html(view, c) for c in cards) or "<p>No records match.</p>"
    first = (page - 1) * per
    shown = f"records {first + 1:,}-{first + len(cards):,} of {total:,}" if cards else f"{total:,} records"
    order = f"shuffled (seed {sel.seed})" if sel.shuffle else "file order"
    body = (f"<div class=side>{''.join(side)}</div><div class=content>{_filters(view, sel, per)}"
            f"<p>{esc(shown)}, {esc(order)}</p><div class=grid>{grid}</div>{_pager(sel, page, per, total)}</div>")
    return layout(f"{view.name}: gallery", body, view.name)


def _params(sel: Selection, **changes: object) -> dict:
    params = {"split": sel.split, "shard": sel.shard, "label": sel.label,
              "order": "shuffle" if sel.shuffle else None, "seed": sel.seed if sel.shuffle else None}
    params.update(changes)
    return params


def _filters(view: DatasetView, sel: Selection, per: int) -> str:
    hidden = "".join(f"<input type=hidden name={esc(k)} value='{esc(v)}'>"
                     for k, v in _params(sel, order=None, seed=None).items() if v is not None)
    checked = " selected" if sel.shuffle else ""
    return (f"<form class=filters method=get action='/'>{hidden}<label>order <select name=order>"
            f"<option value=file>file order</option><option value=shuffle{checked}>seeded shuffle</option></select></label>"
            f"<label>seed <input name=seed size=6 value='{esc(sel.seed)}'></label>"
            f"<label>per page <input name=per size=4 value='{esc(per)}'></label><button>show</button>"
            f" <a href='/'>clear filters</a></form>")


def _class_list(view: DatasetView, sel: Selection, counts: dict[int, int] | None, counting: bool) -> str:
    if view.label is None:
        return "<h3>classes</h3><p>no label feature</p>"
    labels = sorted(set(range(len(view.class_names))) | set(counts or {}))
    note = ""
    if counts is None and counting:
        note = f"<p class=warn>counting: {view.labelled_shards()} of {len(view.shards)} shards</p>"
    elif counts is None:
        note = f"<p><a href={url('/', **_params(sel, count=1))}>count the classes</a> (one pass over the data)</p>"
    items = [f"<li{' class=on' if sel.label is None else ''}><a href={url('/', **_params(sel, label=None))}>all</a></li>"]
    for label in labels:
        count = f" <span class=num>{counts.get(label, 0):,}</span>" if counts is not None else ""
        on = " class=on" if sel.label == label else ""
        items.append(f"<li{on}><a href={url('/', **_params(sel, label=label))}>{esc(view.class_name(label))}</a>{count}</li>")
    return f"<h3>classes ({esc(view.label.name)})</h3>{note}<ul>{''.join(items)}</ul>"


def _split_list(view: DatasetView, sel: Selection) -> str:
    if not view.splits:
        return ""
    items = [f"<li{' class=on' if sel.split is None else ''}><a href={url('/', **_params(sel, split=None, shard=None))}>all</a></li>"]
    items += [f"<li{' class=on' if sel.split == s else ''}><a href={url('/', **_params(sel, split=s, shard=None))}>{esc(s)}</a></li>"
              for s in view.splits]
    return f"<h3>splits</h3><ul>{''.join(items)}</ul>"


def _shard_list(view: DatasetView, sel: Selection) -> str:
    shown = [s for s in view.shards if sel.split in (None, s.split)][:200]
    items = [f"<li{' class=on' if sel.shard is None else ''}><a href={url('/', **_params(sel, shard=None))}>all</a></li>"]
    items += [f"<li{' class=on' if sel.shard == s.id else ''}><a href={url('/', **_params(sel, shard=s.id))}>{esc(s.name)}</a></li>"
              for s in shown]
    return f"<h3>shards</h3><ul>{''.join(items)}</ul>"


def _card_html(view: DatasetView, card) -> str:
    caption = esc(view.class_name(card.label)) if card.label is not None else f"#{card.index}"
    bad = f"<span class='cap bad'>{esc(card.reason)}</span>" if card.reason else ""
    alt = esc(f"{view.shards[card.shard].name} record {card.index}")
    return (f"<a class=card href={url('/record', s=card.shard, i=card.index)}>"
            f"<img src={url('/thumb', s=card.shard, i=card.index)} alt='{alt}' loading=lazy>"
            f"<span class=cap>{caption}</span>{bad}</a>")


def _pager(sel: Selection, page: int, per: int, total: int) -> str:
    last = max(1, -(-total // per))
    links = []
    for label, target in (("first", 1), ("previous", page - 1), ("next", page + 1), ("last", last)):
        if 1 <= target <= last and target != page:
            links.append(f"<a href={url('/', **_params(sel, page=target, per=per))}>{label}</a>")
    return f"<div class=pager>page {page:,} of {last:,} {' '.join(links)}</div>"


# ---------------------------------------------------------------- record


def record_page(view: DatasetView, shard: int, index: int, offset: int | None, framed: int | None,
                example: dict | None, reason: str, image_reason: str,
                prev: tuple[int, int] | None, nxt: tuple[int, int] | None) -> str:
    """One record: its image at full size (or why not), where it is, every feature with its value."""
    s = view.shards[shard]
    nav = " ".join(f"<a href={url('/record', s=t[0], i=t[1])}>{label}</a>" for label, t in (("previous", prev), ("next", nxt)) if t)
    where = [("shard", s.name), ("split", s.split or "-"), ("record", f"{index:,} of {view.count(shard):,}"),
             ("byte offset", f"{offset:,}" if offset is not None else "?"),
             ("framed length", f"{framed:,} bytes" if framed is not None else "?")]
    body = [f"<p>{nav}</p><table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in where) + "</table>"]
    if reason:
        body.append(f"<p class=warn>{esc(reason)}</p>")
    elif image_reason:
        body.append(f"<p class=warn>image not shown: {esc(image_reason)}</p>")
    elif view.image is not None:
        body.append(f"<p><img class=full src={url('/image', s=shard, i=index)} alt='{esc(view.image.name)}'></p>")
    if example is not None:
        rows = []
        for name, (kind, values) in sorted(example.items()):
            spec = _declared(view, name, kind)
            shown = spec.kind if spec is not None else kind
            count = "" if len(values) == 1 else f", {len(values):,} values"
            rows.append(f"<tr><th>{esc(name)}</th><td>{esc(shown + count)}</td>"
                        f"<td class=value>{_value_html(view, name, kind, values, spec)}</td></tr>")
        body.append("<h3>features</h3><table>" + "".join(rows) + "</table>")
    return layout(f"{view.name}: {s.name} record {index}", "".join(body), view.name)


def _declared(view: DatasetView, name: str, kind: str) -> FeatureSpec | None:
    """The schema's entry for a feature when the record stores it as the schema says (else it is shown as stored)."""
    if view.schema is None or name not in view.schema:
        return None
    spec = view.schema[name]
    return spec if spec.storage == kind else None


def _value_html(view: DatasetView, name: str, kind: str, values: list, spec: FeatureSpec | None = None) -> str:
    if spec is not None and spec.kind == "text":
        return text_html(values, scalar=not spec.shape)
    if kind != "bytes":
        shown = ", ".join(f"{v:.6g}" if kind == "float" else str(v) for v in values[:NUMBERS_SHOWN])
        more = f", ... ({len(values):,} values)" if len(values) > NUMBERS_SHOWN else ""
        label = ""
        if view.label is not None and name == view.label.name and len(values) == 1 and view.class_names:
            label = f" ({view.class_name(int(values[0]))})"
        return esc(shown + more + label)
    return "<br>".join(esc(describe_bytes(v)) for v in values[:NUMBERS_SHOWN]) + (
        esc(f" ... ({len(values):,} values)") if len(values) > NUMBERS_SHOWN else "")


def text_html(values: list, scalar: bool = True) -> str:
    """A text feature's values as HTML: a scalar's one value as text, else a list (cut after NUMBERS_SHOWN).

    Each value is decoded as UTF-8, its control characters shown as escapes (`\\x1b`), cut after
    TEXT_CHARS with its length; bytes that are not UTF-8 are shown as an escaped `b'...'` literal, saying so.
    """
    if scalar and len(values) == 1:
        return _text_value_html(values[0])
    items = "".join(f"<li>{_text_value_html(v)}</li>" for v in values[:NUMBERS_SHOWN])
    more = f"<li>... ({len(values):,} values)</li>" if len(values) > NUMBERS_SHOWN else ""
    return f"<ol class=texts>{items}{more}</ol>" if values else ""


def _text_value_html(value: bytes) -> str:
    raw = bytes(value)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        cut = "..." if len(raw) > TEXT_CHARS else ""
        return (f"<span class=warn>not valid UTF-8 ({len(raw):,} bytes):</span> "
                f"{esc(repr(raw[:TEXT_CHARS]) + cut)}")
    shown = "".join(c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode("ascii")
                    for c in text[:TEXT_CHARS])
    return esc(shown) + (esc(f"... ({len(text):,} characters)") if len(text) > TEXT_CHARS else "")


def describe_bytes(value: bytes) -> str:
    """A bytes value readably: an image's format, size and byte count; text as text; short bytes; or a summary."""
    value = bytes(value)
    fmt = image_format(value)
    if fmt:
        header = image_header(value)
        size = f" {header[0]}x{header[1]}x{header[2]} (HxWxC)" if header else ""
        return f"<{fmt} image{size}, {len(value):,} bytes>"
    text = as_text(value)
    if text is not None:
        return text if len(text) <= TEXT_CHARS else f"{text[:TEXT_CHARS]}... ({len(text):,} characters)"
    if len(value) <= SUMMARY_BYTES:
        return repr(value)
    return f"<{len(value):,} bytes: {value[:16].hex(' ')} ...>"


# ---------------------------------------------------------------- dataset (shared with the report)


def dataset_page(view: DatasetView, section: dict | None, verify: str, extra: str = "", refresh: bool = False) -> str:
    """The dataset page: what inspect reports (when its pass is done), and verify's result or how to get it."""
    if section is None:
        body = (f"<p class=warn>Reading the dataset for its statistics (label histogram, image sizes and formats)... "
                f"this page refreshes itself.</p>{_shards_table(view)}")
        return layout(f"{view.name}: dataset", body + extra + verify, view.name, refresh=True)  # problems met so far
    return layout(f"{view.name}: dataset", section_html(section) + extra + verify, view.name, refresh=refresh)


def _shards_table(view: DatasetView) -> str:
    rows = "".join(f"<tr><td>{esc(s.name)}</td><td>{esc(s.split or '-')}</td>"
                   f"<td class=num>{'' if s.listed is None else f'{s.listed:,}'}</td></tr>" for s in view.shards[:500])
    return f"<h3>shards</h3><table><tr><th>file</th><th>split</th><th>records</th></tr>{rows}</table>"


def section_html(section: dict) -> str:
    """One section of an InspectReport (a dataset, or a group of foreign files) as HTML."""
    out = []
    if section["kind"] == "dataset":
        facts = [("path", section["path"]), ("records", f"{section['records']:,}"), ("compression", section["compression"]),
                 ("seed", section["seed"]), ("shuffled", section["shuffled"]),
                 ("source", (section.get("source") or {}).get("description", "")), ("tfrec version", section["tfrec_version"]),
                 ("skipped source files", section.get("skipped_files", 0))]
        out.append(_facts(facts))
        out.append(skipped_html(section.get("skipped") or [], section.get("skipped_files", 0)))
        out.append(_schema_html(section.get("schema") or {}))
        out.append(_splits_html(section["splits"]))
    else:
        out.append(_facts([("files", len(section["files"])), ("records", f"{section['records']:,}"),
                           ("bytes", f"{section['bytes']:,}")]))
        rows = [[os.path.basename(f["file"]), f"{f['records']:,}", f"{f['bytes']:,}", f["compression"], f["counted_by"]]
                for f in section["files"]]
        out.append(_table(["file", "records", "bytes", "compression", "counted by"], rows, numeric=(1, 2)))
        inferred = section["inferred"]
        rows = [[f["name"], f["kind"], "..".join(map(str, sorted(set(f["values_per_record"])))),
                 f.get("looks_like", "") + (" " + ", ".join("x".join(map(str, s)) for s in f.get("image_shapes", [])[:3])
                                            + " (HxWxC)" if f.get("image_shapes") else "")]
                for f in inferred["features"]]
        out.append(f"<h3>inferred from {inferred['sampled_records']:,} sampled records</h3>")
        out.append(_table(["key", "kind", "values/record", "looks like"], rows))
        out += [f"<p class=warn>note: {esc(n)}</p>" for n in inferred["notes"]]
        if section.get("schema"):
            out.append(_schema_html(section["schema"]))
    for name, hist in (section.get("labels") or {}).items():
        out.append(histogram_html(name, hist["counts"], hist.get("num_classes")))
    images = section.get("images")
    if images:
        out.append(images_html(images))
    per = section.get("bytes_per_record")
    if per:
        out.append(f"<p>bytes per record: min {per['min']:,}, mean {per['mean']:,}, max {per['max']:,}</p>")
    return "".join(out)


def skipped_html(skipped: Sequence[dict], total: int) -> str:
    """The source files conversion skipped, with why: the first SKIPPED_SHOWN, then how many more."""
    if not total:
        return ""
    rows = _table(["file", "reason"], [[s.get("path", ""), s.get("reason", "")] for s in skipped[:SKIPPED_SHOWN]])
    shown = min(len(skipped), SKIPPED_SHOWN)
    more = f"<p>... and {total - shown:,} more (dataset.json lists all {total:,})</p>" if total > shown else ""
    return f"<h3>skipped source files ({total:,})</h3>{rows}{more}"


def _facts(pairs: Iterable[tuple[str, object]]) -> str:
    return "<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(human(v))}</td></tr>" for k, v in pairs) + "</table>"


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if i in numeric else ''}>{esc(human(v))}</td>" for i, v in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _schema_html(schema: dict) -> str:
    rows = []
    for name, f in (schema.get("features") or {}).items():
        extra = [f.get("encoding", ""), f"{f['num_classes']} classes" if f.get("num_classes") else ""]
        rows.append([name, f.get("kind", ""), str(f.get("shape")), " ".join(e for e in extra if e)])
    return f"<h3>schema {esc(schema.get('name', ''))}</h3>" + _table(["feature", "kind", "shape", ""], rows)


def _splits_html(splits: dict) -> str:
    rows = [[name, f"{s['records']:,}", len(s["shards"]), f"{s['bytes'] / 1e6:,.2f} MB"] for name, s in splits.items()]
    shards = [[sh["file"], split, "missing" if sh["records"] is None else f"{sh['records']:,}",
               "" if sh["bytes"] is None else f"{sh['bytes']:,}"]
              for split, s in splits.items() for sh in s["shards"]]
    return ("<h3>splits</h3>" + _table(["split", "records", "shards", "size"], rows, numeric=(1, 2, 3))
            + "<h3>shards</h3>" + _table(["file", "split", "records", "bytes"], shards, numeric=(2, 3)))


def histogram_html(feature: str, counts: list[dict], num_classes: int | None = None) -> str:
    """A label histogram: one bar per class with its name and count (inspect's `labels` rows)."""
    most = max((c["count"] for c in counts), default=0) or 1
    rows = []
    for c in counts[:HISTOGRAM_ROWS]:
        label = f"{c['label']}" + (f" {c['name']}" if c.get("name") else "")
        width = max(1, round(240 * c["count"] / most))
        rows.append(f"<tr><td>{esc(label)}</td><td class=num>{c['count']:,}</td>"
                    f"<td><span class=bar style='width:{width}px'></span></td></tr>")
    more = f"<tr><td colspan=3>... {len(counts) - HISTOGRAM_ROWS:,} more</td></tr>" if len(counts) > HISTOGRAM_ROWS else ""
    of = f" of {num_classes}" if num_classes else ""
    return f"<h3>label histogram ({esc(feature)}, {len(counts)} distinct{of})</h3><table>{''.join(rows)}{more}</table>"


def images_html(images: dict) -> str:
    """Image formats, and a chart of the commonest image sizes (inspect's `images`)."""
    formats = ", ".join(f"{k} {v:,}" for k, v in images["formats"].items())
    most = max((s["count"] for s in images["sizes"]), default=0) or 1
    rows = "".join(f"<tr><td>{esc(s['size'])}</td><td class=num>{s['count']:,}</td>"
                   f"<td><span class=bar style='width:{max(1, round(240 * s['count'] / most))}px'></span></td></tr>"
                   for s in images["sizes"])
    more = f"<p>{images['distinct_sizes']:,} distinct sizes in all</p>" if images["distinct_sizes"] > len(images["sizes"]) else ""
    return (f"<h3>images ({esc(images['feature'])}, {esc(images['encoding'])})</h3><p>formats: {esc(formats)}</p>"
            f"<h3>image sizes (HxWxC)</h3><table>{rows}</table>{more}")


def problems_html(problems: Sequence[str]) -> str:
    """Problems met while reading the dataset (damaged records, missing shards), the first 100 of them."""
    if not problems:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in problems[:100])
    return f"<h3 class=warn>{len(problems):,} problem(s) met while reading</h3><ul>{items}</ul>"


def verify_html(path: str, report: dict | None, running: bool) -> str:
    """verify's result, or that it is running, or the command that checks the dataset."""
    if running:
        return "<h3>verify</h3><p>verifying... this page refreshes itself.</p>"
    if report is None:
        return (f"<h3>verify</h3><p>Not verified in this session. Check every record with "
                f"<code>tfrec verify {esc(path)}</code> (or start the viewer with <code>--verify</code>).</p>")
    state = "<span class=ok>OK: no problems found</span>" if report["ok"] else \
        f"<span class=warn>{report['problems_found']:,} problem(s) found</span>"
    problems = "".join(f"<li>{esc(_problem(p))}</li>" for p in report["problems"][:100])
    return (f"<h3>verify (level {esc(report['level'])})</h3><p>{state}: {report['files']:,} files, "
            f"{report['records']:,} records in {report['seconds']:.2f} s</p><ul>{problems}</ul>")


def _problem(p: dict) -> str:
    where = ", ".join(x for x in (f"record {p['record']}" if p.get("record") is not None else "",
                                  f"byte {p['offset']}" if p.get("offset") is not None else "") if x)
    return f"{os.path.basename(p['file'])}: {where + ': ' if where else ''}{p['reason']}"
