"""Pictures of similarity over time: a query's clip cosines in a video,
per branch and fused, as step curves over the clip spans.

:func:`draw_curves` draws one video's curves on a matplotlib axis (shared
by the search inferencer and ``tools/analysis/plot_similarity.py``);
:func:`draw_search_result` renders one search prediction (its top videos,
the moment hint shaded) to an RGB image without touching pyplot's global
backend.
"""
import os
import os.path as osp
from typing import Mapping, Optional, Sequence

import numpy as np

from ..models.students import BRANCH_ATTRS, EXPLORATION, INHERITANCE

__all__ = [
    'CURVE_STYLES', 'span_edges', 'draw_curves', 'draw_search_result',
    'save_image'
]

#: matplotlib style of every curve
CURVE_STYLES = {
    INHERITANCE: dict(color='tab:blue', label=BRANCH_ATTRS[INHERITANCE]),
    EXPLORATION: dict(color='tab:orange', label=BRANCH_ATTRS[EXPLORATION]),
    'fused': dict(color='black', linestyle='--', label='fused'),
    'teacher': dict(color='tab:green', label='teacher (CLIP)')
}


def span_edges(spans: np.ndarray) -> np.ndarray:
    """(T + 1,) clip edges of (T, 2) contiguous clip spans."""
    spans = np.asarray(spans, dtype=np.float64)
    return np.append(spans[:, 0], spans[-1, 1])


def draw_curves(ax,
                edges: Sequence[float],
                curves: Mapping[str, Sequence[float]],
                edges_of: Optional[Mapping[str,
                                           Sequence[float]]] = None) -> None:
    """Step curves of clip cosines on a matplotlib axis.

    Args:
        ax (matplotlib.axes.Axes): the axis.
        edges (Sequence[float]): (T + 1,) clip edges.
        curves (dict): per name (T,) cosines (``inher``, ``explore``,
            ``fused``, ``teacher`` or any other name).
        edges_of (dict, optional): other edges of some curves (e.g. the
            teacher's clips).
    """
    for name, values in curves.items():
        style = dict(CURVE_STYLES.get(name, dict(label=name)))
        own = (edges_of or {}).get(name, edges)
        ax.stairs(values, own, linewidth=1.6, baseline=None, **style)
    ax.set_xlim(edges[0], edges[-1])
    ax.set_ylabel('cosine')
    ax.grid(alpha=0.3)


def draw_search_result(pred: dict,
                       max_results: int = 5,
                       dpi: int = 100) -> np.ndarray:
    """One prediction of :class:`~prvr_mm.apis.PRVRInferencer` as an image:
    a panel per top video with its curves and the moment hint shaded.

    Args:
        pred (dict): a prediction with ``query`` and ``results`` carrying
            ``curves`` (``spans`` (T, 2), per branch and ``fused`` (T,)).
        max_results (int): the most videos drawn. Defaults to 5.
        dpi (int): resolution. Defaults to 100.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    results = pred['results'][:max_results]
    rows = max(1, len(results))
    fig = Figure(figsize=(11, 2.3 * rows + 0.7), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, r in zip(axes, results):
        curves = {k: v for k, v in r['curves'].items() if k != 'spans'}
        draw_curves(ax, span_edges(r['curves']['spans']), curves)
        ax.axvspan(*r['moment'], color='tab:red', alpha=0.2, label='moment')
        ax.set_xlabel('time (s)' if r['unit'] == 's' else 'clip')
        scores = ', '.join(f'{k[:-6]} {v:.3f}' for k, v in r.items()
                           if k.endswith('_score'))
        ax.set_title(
            f'#{r["rank"]} {r["video_id"]}: score {r["score"]:.3f} '
            f'({scores})',
            fontsize=9)
        ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    if not results:
        axes[0].text(0.5, 0.5, 'no result', ha='center', va='center')
        axes[0].set_axis_off()
    fig.suptitle(f'query: {pred.get("query", "")}', fontsize=10)
    fig.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_image(image: np.ndarray, path: str) -> str:
    """Write an (H, W, 3) uint8 RGB image as PNG (folders created)."""
    from matplotlib.image import imsave
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    imsave(path, image)
    return path
