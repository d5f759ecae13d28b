"""``tools/analysis/plot_similarity.py``: a PNG of one query's similarity
over time (the curves are tested in tests/test_apis/test_analysis.py)."""
import os.path as osp

from tests.helpers.tools import (TINY_TOY_CFG, run_tool,
                                 save_random_checkpoint, tool)

QUERY = 'toy_test_00003#enc#0'


def test_plot_tool_writes_png(tiny_toy_root, tmp_path):
    work = str(tmp_path)
    ckpt = save_random_checkpoint(osp.join(work, 'random.pth'))
    out = osp.join(work, 'figs', 'sim.png')
    proc = run_tool(
        tool('analysis', 'plot_similarity.py'),
        TINY_TOY_CFG,
        ckpt,
        '--query',
        QUERY,
        '--topk',
        '2',
        '--out',
        out,
        '--cfg-options',
        f'data_root={tiny_toy_root}',
        cwd=work)
    assert 'GT rank' in proc.stdout
    with open(out, 'rb') as f:
        head = f.read(8)
    assert head == b'\x89PNG\r\n\x1a\n'
    assert osp.getsize(out) > 30_000
    import matplotlib.image as mpimg
    image = mpimg.imread(out)
    assert image.shape[0] > 600 and image.shape[1] > 800  # 3 panels
    assert image[..., :3].std() > 0.05  # not blank
