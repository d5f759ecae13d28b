"""A local search page: type a sentence, see the ranked videos, each with
its similarity over time (inheritance, exploration, fused), the moment hint
highlighted, and the video playing from the moment's start when its file
is available.

Built with Gradio (``pip install "prvr_mm[demo]"``) on the public API of
:class:`prvr_mm.apis.PRVRInferencer`; started by
``demo/prvr_search.py CONFIG CKPT --index FILE --serve``. The results are
plain HTML with inline SVG curves (no plotting library in the browser), and
videos are served by Gradio from the folders of the indexed files only.
"""
import html
import os
import os.path as osp
from typing import Dict, Optional, Sequence

from prvr_mm.errors import PRVRError, SearchIndexError

__all__ = [
    'curve_svg', 'render_results', 'build_search_page', 'launch_search_page'
]

_COLORS = dict(
    inher='#1f77b4', explore='#ff7f0e', clip='#2ca02c', fused='#111111')
_LABELS = dict(
    inher='inheritance',
    explore='exploration',
    clip='CLIP zero-shot',
    fused='fused')

_CSS = """
.prvr-result {border: 1px solid #ddd; border-radius: 8px; padding: 10px;
  margin: 10px 0; display: flex; gap: 16px; flex-wrap: wrap;}
.prvr-meta {width: 230px; font-size: 14px; line-height: 1.5;}
.prvr-rank {font-size: 20px; font-weight: bold;}
.prvr-note {color: #8a5a00;}
.prvr-missing {color: #999; font-style: italic;}
.prvr-legend span {margin-right: 10px;}
"""


def _fmt_time(value: float, unit: str) -> str:
    return f'{value:.1f} s' if unit == 's' else f'clip {value:g}'


def curve_svg(curves: Dict[str, Sequence],
              moment: Sequence[float],
              unit: str,
              width: int = 480,
              height: int = 150) -> str:
    """An inline SVG of clip similarity over time.

    Args:
        curves (dict): ``spans`` (T, 2) clip spans and per branch /
            ``fused`` (T,) cosines (a result's ``curves``).
        moment (Sequence[float]): ``[start, end]`` of the moment hint,
            shaded.
        unit (str): ``'s'`` or ``'clip'`` (axis label).
        width (int): pixels. Defaults to 480.
        height (int): pixels. Defaults to 150.

    Returns:
        str: ``<svg class="prvr-curve">...</svg>``; step curves, one per
        series, the moment as a shaded band.
    """
    spans = [tuple(s) for s in curves['spans']]
    names = [n for n in _COLORS if n in curves]
    values = [v for n in names for v in curves[n]]
    t0, t1 = spans[0][0], spans[-1][1]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-6:
        lo, hi = lo - 0.5, hi + 0.5
    pad = 0.08 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    left, right, top, bottom = 44, 8, 8, 22
    span_t = max(t1 - t0, 1e-9)

    def x(t):
        return left + (t - t0) / span_t * (width - left - right)

    def y(v):
        return top + (hi - v) / (hi - lo) * (height - top - bottom)

    parts = [
        f'<svg class="prvr-curve" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    m0, m1 = x(moment[0]), x(moment[1])
    parts.append(f'<rect class="prvr-moment" x="{m0:.1f}" y="{top}" '
                 f'width="{max(m1 - m0, 1):.1f}" '
                 f'height="{height - top - bottom}" fill="#d62728" '
                 'fill-opacity="0.18"/>')
    if lo < 0 < hi:
        parts.append(f'<line x1="{left}" x2="{width - right}" '
                     f'y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#ccc" '
                     'stroke-dasharray="3,3"/>')
    for name in names:
        points = []
        for (a, b), v in zip(spans, curves[name]):
            points.append(f'{x(a):.1f},{y(v):.1f}')
            points.append(f'{x(b):.1f},{y(v):.1f}')
        dash = ' stroke-dasharray="5,3"' if name == 'fused' else ''
        parts.append(f'<polyline class="prvr-series-{name}" fill="none" '
                     f'stroke="{_COLORS[name]}" stroke-width="1.6"{dash} '
                     f'points="{" ".join(points)}"/>')
    axis = height - bottom
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{axis}" '
                 f'y2="{axis}" stroke="#888"/>')
    label = 'time (s)' if unit == 's' else 'clip'
    parts.append(f'<text x="{left}" y="{height - 6}" font-size="11">'
                 f'{t0:g}</text>')
    parts.append(f'<text x="{width - right}" y="{height - 6}" '
                 f'font-size="11" text-anchor="end">{t1:g}</text>')
    parts.append(f'<text x="{(left + width) / 2:.0f}" y="{height - 6}" '
                 f'font-size="11" text-anchor="middle">{label}</text>')
    parts.append(f'<text x="{left - 4}" y="{y(hi - pad) + 4:.1f}" '
                 f'font-size="10" text-anchor="end">{hi - pad:.2f}</text>')
    parts.append(f'<text x="{left - 4}" y="{y(lo + pad) + 4:.1f}" '
                 f'font-size="10" text-anchor="end">{lo + pad:.2f}</text>')
    parts.append('</svg>')
    return ''.join(parts)


def _video_html(result: dict, autoplay: bool) -> str:
    path = result.get('video_path')
    if not path:
        return ('<div class="prvr-missing">no video file recorded for this '
                'video</div>')
    if not result.get('video_available'):
        return (f'<div class="prvr-missing">video file missing: '
                f'{html.escape(path)}</div>')
    if osp.isdir(path):
        return (f'<div class="prvr-missing">frame folder (not playable): '
                f'{html.escape(path)}</div>')
    start, end = result['moment']
    if result['unit'] != 's':
        return ('<div class="prvr-missing">video duration unknown: cannot '
                'seek to the moment</div>')
    src = f'/gradio_api/file={html.escape(path)}#t={start:.2f},{end:.2f}'
    flags = ' autoplay muted' if autoplay else ''
    return (f'<video class="prvr-video" width="256" controls '
            f'preload="metadata"{flags} src="{src}"></video>')


def render_results(pred: dict, show_videos: bool = True) -> str:
    """HTML of one query's results (a prediction of
    :class:`PRVRInferencer` with ``return_curves=True``)."""
    out = []
    results = pred.get('results', [])
    query = html.escape(str(pred.get('query', '')))
    out.append(f'<div class="prvr-summary">{len(results)} of '
               f'{pred.get("num_videos", "?")} videos for '
               f'<b>{query}</b></div>')
    if pred.get('note'):
        out.append(f'<div class="prvr-note">{html.escape(pred["note"])}'
                   '</div>')
    shown = {k[:-6] for r in results for k in r if k.endswith('_score')}
    legend = ''.join(
        f'<span style="color:{_COLORS[n]}">&#9644; {_LABELS[n]}</span>'
        for n in _COLORS if n in shown or (n == 'fused' and len(shown) > 1))
    out.append(f'<div class="prvr-legend">{legend}<span style="color:'
               '#d62728">&#9646; moment</span></div>')
    for r in results:
        scores = ', '.join(f'{_LABELS.get(k[:-6], k[:-6])} {v:.3f}'
                           for k, v in r.items() if k.endswith('_score'))
        unit = r['unit']
        moment = (f'{_fmt_time(r["moment"][0], unit)} &ndash; '
                  f'{_fmt_time(r["moment"][1], unit)}')
        meta = (f'<div class="prvr-meta"><div class="prvr-rank">#{r["rank"]}'
                f'</div><div class="prvr-video-id">'
                f'{html.escape(r["video_id"])}</div>'
                f'<div>score {r["score"]:.3f} ({scores})</div>'
                f'<div class="prvr-moment-text">moment {moment}</div></div>')
        curve = curve_svg(r['curves'], r['moment'], unit) \
            if 'curves' in r else ''
        video = _video_html(r, r['rank'] == 1) if show_videos else ''
        out.append(f'<div class="prvr-result" data-rank="{r["rank"]}">'
                   f'{meta}<div>{curve}</div><div>{video}</div></div>')
    return '<div class="prvr-results">' + ''.join(out) + '</div>'


def _message(text: str) -> str:
    return f'<div class="prvr-message">{html.escape(text)}</div>'


def build_search_page(inferencer,
                      top_k: int = 5,
                      candidates: Optional[int] = None,
                      title: str = 'prvr_mm video search'):
    """The Gradio page of an inferencer with a loaded index.

    Args:
        inferencer (PRVRInferencer): with ``search_index`` set (loaded or
            built).
        top_k (int): initial number of results. Defaults to 5.
        candidates (int, optional): ANN candidates (None = exact).
        title (str): page title.

    Returns:
        gradio.Blocks: the page (call ``.launch()``).
    """
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')
    import gradio as gr

    index = inferencer.search_index
    if index is None:
        raise SearchIndexError('the search page needs an index: load one '
                               '(PRVRInferencer(..., index=FILE)) or build '
                               'one (PRVRInferencer.index)')
    info = (f'{len(index)} videos, {index.total_clips} clips; model '
            f'{osp.basename(str(index.fingerprint.get("config")))} / '
            f'{osp.basename(str(index.fingerprint.get("checkpoint")))}')

    def run(query: str, k: float) -> str:
        if not query or not query.strip():
            return _message('The query is empty: type a sentence.')
        try:
            pred = inferencer.search(
                query.strip(),
                top_k=int(k),
                candidates=candidates,
                return_curves=True)[0]
        except (PRVRError, ValueError, RuntimeError) as e:
            # shown on the page, never a traceback
            return _message(f'Search failed: {e}')
        return render_results(pred)

    with gr.Blocks(title=title) as page:
        gr.Markdown(f'## {title}\n{info}')
        with gr.Row():
            query = gr.Textbox(
                label='Query',
                placeholder='a sentence describing a moment',
                elem_id='prvr-query',
                scale=4)
            k = gr.Slider(
                1,
                max(1, min(50, len(index))),
                value=min(top_k, len(index)),
                step=1,
                label='videos',
                elem_id='prvr-topk',
                scale=1)
        button = gr.Button('Search', variant='primary', elem_id='prvr-search')
        results = gr.HTML(
            _message('Type a sentence to search the videos.'),
            elem_id='prvr-results')
        button.click(run, [query, k], results)
        query.submit(run, [query, k], results)
    return page


def launch_search_page(inferencer,
                       host: str = '127.0.0.1',
                       port: int = 7860,
                       top_k: int = 5,
                       candidates: Optional[int] = None,
                       block: bool = True):
    """Build and serve the page on ``http://host:port``.

    Only the folders of the indexed video files are served.

    Returns:
        gradio.Blocks: the running page (``.close()`` stops it).
    """
    page = build_search_page(inferencer, top_k, candidates)
    folders = sorted(
        {osp.dirname(p)
         for p in inferencer.search_index.video_paths if p})
    page.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        allowed_paths=folders,
        quiet=True,
        ssr_mode=False,
        css=_CSS,
        footer_links=[])
    return page
