"""Plot a query's similarity over time in its ground-truth video and in its
top retrieved videos.

``python tools/analysis/plot_similarity.py CONFIG CHECKPOINT --query CAP_ID
[--topk 3] [--out fig.png] [--split test] [--cfg-options ...]``

One panel per video (ground truth first): the cosine per clip of the
inheritance and exploration branches, their fused curve and, when the split
has teacher features, the CLIP teacher's; the query's ground-truth moment is
shaded when its timestamps are known. The x axis is in seconds when the
video's duration is known (uniform clips assumed), else in clips. The
computation lives in :mod:`prvr_mm.apis.analysis` and the curves are drawn by
:func:`prvr_mm.apis.visualization.draw_curves`; the fusion weight is the
one of the config's test evaluator.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config

from prvr_mm.errors import PRVRConfigError, PRVRDataError
from prvr_mm.utils.cfg_options import CfgOptionsAction
from prvr_mm.utils.cli import add_debug_flag, run_tool


def parse_args():
    parser = argparse.ArgumentParser(
        description='Plot the similarity over time of one query')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--query', required=True, help='the cap_id to plot')
    parser.add_argument(
        '--topk',
        type=int,
        default=3,
        help='top retrieved videos shown besides the ground truth')
    parser.add_argument(
        '--out', default='similarity.png', help='output PNG file')
    parser.add_argument(
        '--split',
        choices=['train', 'val', 'test'],
        default='test',
        help='the split (dataloader config) the query belongs to')
    parser.add_argument(
        '--batch-size', type=int, default=32, help='videos per forward pass')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override settings of the config, key=value (a top-level '
        'data_root=... also moves every dataset)')
    add_debug_flag(parser)
    return parser.parse_args()


def _label(panel: dict, weights: dict) -> str:
    scores = ', '.join(f'{k} {v:.3f}' for k, v in panel['scores'].items())
    fusion = ', '.join(f'{k} {w:g}' for k, w in weights.items())
    head = (f'GT video {panel["video_id"]}'
            if panel['is_gt'] else f'{panel["video_id"]}')
    return (f'rank {panel["rank"]}: {head} - fused {panel["score"]:.3f} '
            f'(weights {fusion}; {scores})')


def plot(curves: dict, out: str, split: str, weights: dict) -> None:
    """Draw the output of :func:`query_curves` to a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from prvr_mm.apis.visualization import draw_curves

    panels = curves['panels']
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(12, 2.6 * len(panels) + 0.8), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        teacher = dict(teacher=panel['teacher_edges']) \
            if 'teacher_edges' in panel else None
        draw_curves(ax, panel['edges'], panel['curves'], teacher)
        best = panel['best_clip']
        ax.axvspan(
            panel['edges'][best],
            panel['edges'][best + 1],
            color='black',
            alpha=0.08,
            label='best clip (fused)')
        stamps = curves['timestamps']
        if panel['is_gt'] and stamps is not None and panel['unit'] == 's':
            ax.axvspan(
                stamps[0],
                stamps[1],
                color='tab:red',
                alpha=0.2,
                label='GT moment')
        ax.set_xlabel('time (s)' if panel['unit'] == 's' else 'clip index')
        ax.set_title(
            _label(panel, weights),
            fontsize=9,
            color='tab:red' if panel['is_gt'] else 'black')
        ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    notes = [
        f'query {curves["query_id"]} ({split} split): GT rank '
        f'{curves["gt_rank"]}'
    ]
    if not curves['has_teacher']:
        notes.append(f'no teacher curve: no teacher features configured '
                     f'for the {split} split')
    if curves['timestamps'] is None:
        notes.append('GT moment unknown (no timestamps)')
    elif panels[0]['unit'] != 's':
        notes.append('GT moment not shaded (video duration unknown)')
    fig.suptitle('\n'.join(notes), fontsize=10)
    fig.tight_layout()
    parent = osp.dirname(osp.abspath(out))
    os.makedirs(parent, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    args = parse_args()
    from mmaction.registry import DATASETS

    import prvr_mm  # noqa: F401  (stack fixes + registration)
    from prvr_mm.apis import encode_split, init_model, query_curves
    from prvr_mm.evaluation import PRVRMetric
    from prvr_mm.utils import merge_config_options, resolve_dataloaders

    if not osp.isfile(args.config):
        raise PRVRConfigError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    merge_config_options(cfg, args.cfg_options, args.config)
    resolve_dataloaders(cfg)
    loader = cfg.get(f'{args.split}_dataloader')
    if loader is None:
        raise PRVRConfigError(f'{args.config} has no {args.split}_dataloader:'
                              ' pick another --split')
    model = init_model(cfg, args.checkpoint)  # strict: same error as test.py
    dataset = DATASETS.build(loader.dataset)
    weights = PRVRMetric.from_config(cfg).fusion_weights

    encoded = encode_split(model, dataset, batch_size=args.batch_size)
    try:
        curves = query_curves(encoded, args.query, weights, topk=args.topk)
    except KeyError as err:  # a cap_id that is not in the split
        raise PRVRDataError(
            f'--query {args.query}: {err.args[0]} ({args.split} split of '
            f'{args.config}); pass a cap_id of its caption file, e.g. '
            f'{encoded[0]["query_ids"][0]}') from None
    plot(curves, args.out, args.split, weights)
    print(f'GT rank {curves["gt_rank"]}; figure written to {args.out}')


if __name__ == '__main__':
    run_tool(main)
