"""A self-contained HTML page: images and the movie as base64 data URIs, tables as HTML.

The page needs no network and no other file: it can be mailed or attached to an issue. Only a
movie larger than ``embed_limit_mb`` is linked (``overlay.mp4`` beside the page) instead of
embedded; the GIF preview is always embedded.
"""

from __future__ import annotations

import base64
import html
import mimetypes
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 28px}
header h1{margin:0 0 4px 0;font-size:22px} header p{margin:2px 0;color:#c9cfdb;font-size:13px}
nav{padding:6px 28px;background:#e8ebf0;font-size:14px} nav a{margin-right:16px;color:#1d4ed8;text-decoration:none}
section{background:#fff;margin:16px 28px;padding:10px 20px 16px;border-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
h2{font-size:18px;margin:8px 0 10px} h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0} th,td{border:1px solid #d5d9e0;padding:3px 8px;text-align:right}
th{background:#eef1f5} td.t{text-align:left} td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start} .grid figure{margin:0}
figcaption{font-size:12px;color:#555;max-width:640px} img{max-width:100%;height:auto}
.note{font-size:13px;color:#555} .files a{margin-right:12px;font-size:13px}
video{background:#000;max-width:100%} .bad{color:#b91c1c} .good{color:#15803d}
details summary{cursor:pointer;font-size:14px;margin:6px 0}
"""

FALLBACK_JS = """
function celltraceGifFallback(){var v=document.getElementById('overlay-video');var g=document.getElementById('overlay-gif');
if(!v||!g)return;v.style.display='none';g.parentElement.open=true;}
document.addEventListener('DOMContentLoaded',function(){var v=document.getElementById('overlay-video');
if(v&&v.canPlayType&&v.canPlayType('video/mp4; codecs="avc1.64001E"')===''&&v.canPlayType('video/mp4')===''){celltraceGifFallback();}});
"""


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def data_uri(data: bytes | str | Path, mime: str | None = None) -> str:
    """``data:<mime>;base64,…`` of a file (path) or of bytes."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        mime = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = path.read_bytes()
    return f"data:{mime or 'application/octet-stream'};base64," + base64.b64encode(data).decode("ascii")


def png_bytes(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def img(path: str | Path, id: str | None = None, cls: str | None = None, alt: str = "", caption: str = "") -> str:
    """An embedded image in a <figure> (with a caption when given)."""
    attrs = (f' id="{esc(id)}"' if id else "") + (f' class="{esc(cls)}"' if cls else "")
    tag = f'<img{attrs} alt="{esc(alt)}" src="{data_uri(path)}">'
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure>{tag}{cap}</figure>"


def video(mp4: Path, gif: Path | None, poster: bytes | None, width: int, embed_limit_mb: float = 40.0,
          n_frames: int | None = None) -> str:
    """<video> of the overlay (embedded if small enough) + the GIF preview in a <details> (shown
    instead of the video where the browser cannot play H.264); ``n_frames``: the movie's length."""
    size_mb = mp4.stat().st_size / 2**20
    src = data_uri(mp4, "video/mp4") if size_mb <= embed_limit_mb else mp4.name
    poster_attr = f' poster="{data_uri(poster, "image/png")}"' if poster else ""
    out = [f'<video id="overlay-video" controls autoplay muted loop playsinline preload="auto" width="{width}"'
           f'{poster_attr} onerror="celltraceGifFallback()">'
           f'<source src="{src}" type="video/mp4" onerror="celltraceGifFallback()">'
           "Your browser cannot play MP4 video; see the GIF preview below.</video>"]
    if size_mb > embed_limit_mb:
        out.append(f'<p class="note">The movie ({size_mb:.0f} MB) is too large to embed: it plays from '
                   f'<code>{esc(mp4.name)}</code> beside this page.</p>')
    if gif is not None and gif.exists():
        from PIL import Image

        with Image.open(gif) as g:
            n, (w, h) = g.n_frames, g.size
        of = f" of {n_frames}" if n_frames and n_frames != n else ""
        out.append(f'<details><summary>GIF preview ({n}{of} frame{"" if n == 1 and not of else "s"}, {w} × {h} px, '
                   f'{gif.stat().st_size / 2**20:.1f} MB)</summary>'
                   f'<img id="overlay-gif" alt="overlay movie preview (GIF)" src="{data_uri(gif, "image/gif")}">'
                   "</details>")
    return "\n".join(out)


def table(df: pd.DataFrame, id: str | None = None, max_rows: int | None = None, float_format: str = "{:.4g}",
          collapse_over: int | None = None, what: str = "rows", csv: str | None = None) -> str:
    """An HTML table of ``df`` (escaped); at most ``max_rows`` rows, with a note on the rest (in
    the file ``csv`` when given). A table of more than ``collapse_over`` rows is folded in a
    ``<details>`` whose summary line says how many ``what`` there are and how many are shown."""
    shown = df if max_rows is None or len(df) <= max_rows else df.head(max_rows)

    def fmt(v: object) -> str:
        if isinstance(v, (float, np.floating)):
            return "–" if not np.isfinite(v) else float_format.format(v)
        if v is None:
            return "–"
        return str(v)

    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    text = [not pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns]

    def cell(v: object, left: bool) -> str:
        return f'<td class="t">{esc(fmt(v))}</td>' if left and not isinstance(v, (int, float, np.number)) \
            else f"<td>{esc(fmt(v))}</td>"

    body = "".join("<tr>" + "".join(cell(v, left) for v, left in zip(row, text)) + "</tr>"
                   for row in shown.itertuples(index=False))
    attrs = f' id="{esc(id)}"' if id else ""
    where = f"<code>{esc(csv)}</code>" if csv else "the CSV file"
    more = (f'<p class="note">{len(df) - len(shown)} more rows in {where}.</p>'
            if len(shown) < len(df) else "")
    out = f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"
    if collapse_over is not None and len(df) > collapse_over:
        part = f"the first {len(shown)} shown" if len(shown) < len(df) else "all shown"
        out = (f'<details class="long-table"><summary>{len(df)} {esc(what)} ({part}; click to open)</summary>'
               f"{out}</details>")
    return out


def files(names: Iterable[str]) -> str:
    """Links to files beside the page (CSV, MP4, GIF…)."""
    return '<p class="files">Files: ' + "".join(f'<a href="{esc(n)}">{esc(n)}</a>' for n in names) + "</p>"


def page(title: str, header_lines: list[str], sections: list[tuple[str, str, str]]) -> str:
    """The whole document. ``sections``: (id, heading, body HTML)."""
    nav = "".join(f'<a href="#{esc(i)}">{esc(h)}</a>' for i, h, _ in sections)
    body = "\n".join(f'<section id="{esc(i)}"><h2>{esc(h)}</h2>\n{b}\n</section>' for i, h, b in sections)
    head = "".join(f"<p>{line}</p>" for line in header_lines)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style><script>{FALLBACK_JS}</script></head>\n"
            f"<body><header><h1>{esc(title)}</h1>{head}</header><nav>{nav}</nav>\n{body}\n</body></html>\n")
