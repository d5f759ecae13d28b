"""Zero-shot search with CLIP alone (``CLIPZeroShotRetriever``): the same
``PRVRInferencer``, index file and command line as a trained model, no
checkpoint."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from prvr_mm.apis import PRVRInferencer, load_index
from prvr_mm.datasets.layout import write_h5
from prvr_mm.errors import PRVRConfigError
from tests.helpers.tiny_models import write_tiny_clip_config
from tests.helpers.tools import ROOT

CONFIG = osp.join(ROOT, 'configs', 'clip_zeroshot', 'clip_zeroshot_vit-b32.py')
DIM = 16


def zero_shot_cfg(dim=DIM, text_encoder=None):
    cfg = Config.fromfile(CONFIG)
    cfg.model.embed_dim = dim
    if text_encoder is not None:
        cfg.text_encoder = text_encoder
    return cfg


def planted_frames(path,
                   direction,
                   target=2,
                   frames=(3, 4),
                   noise=0.05,
                   seed=0):
    """Random unit frame embeddings of 5 videos of 6 frames; video
    ``target`` shows ``direction`` at ``frames``. Returns the features."""
    rng = np.random.default_rng(seed)
    feats = {}
    for v in range(5):
        x = rng.standard_normal((6, len(direction)))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        if v == target:
            for t in frames:
                x[t] = direction + noise * rng.standard_normal(len(direction))
        feats[f'vid{v}'] = x
    write_h5(path, feats)
    return feats


def test_zero_shot_ranks_the_matching_video_first(tmp_path):
    """Frame embeddings built so that video 2 shows the query's direction
    in frames 3-4: it ranks first, its score is the max over frames of the
    cosine, and the moment is those frames' seconds."""
    rng = np.random.default_rng(1)
    direction = rng.standard_normal(DIM)
    direction /= np.linalg.norm(direction)
    frames = str(tmp_path / 'frames.hdf5')
    feats = planted_frames(frames, direction)
    inferencer = PRVRInferencer(zero_shot_cfg(), None)
    inferencer.index(frames, str(tmp_path / 'zs.index.h5'), clip_seconds=1.5)
    query = (direction + 0.05 * rng.standard_normal(DIM))[None]  # (1, D)
    pred = inferencer.search([query.astype(np.float32)], top_k=5)[0]
    ranked = [r['video_id'] for r in pred['results']]
    assert ranked[0] == 'vid2'
    q = query[0] / np.linalg.norm(query[0])
    for r in pred['results']:
        x = feats[r['video_id']]
        cos = x @ q / np.linalg.norm(x, axis=1)
        assert r['score'] == pytest.approx(cos.max(), abs=2e-3)  # float16
        assert r['clip_score'] == r['score']
    expected = sorted(
        feats,
        key=lambda v: -(feats[v] @ q / np.linalg.norm(feats[v], axis=1)).max())
    assert ranked == expected
    assert pred['results'][0]['moment'] == pytest.approx([4.5, 7.5])
    # the index is a plain index file, searchable after reloading
    index = load_index(str(tmp_path / 'zs.index.h5'))
    assert tuple(index.branches) == ('clip', )
    again = PRVRInferencer(zero_shot_cfg(), None, index=index)
    assert again.search([query.astype(np.float32)
                         ])[0]['results'][0]['video_id'] == 'vid2'


def test_zero_shot_refuses_other_widths(tmp_path):
    frames = str(tmp_path / 'frames.hdf5')
    planted_frames(frames, np.ones(DIM) / 4)
    inferencer = PRVRInferencer(zero_shot_cfg(dim=DIM), None)
    inferencer.index(frames, clip_seconds=1.0)
    with pytest.raises(ValueError, match=r'expected \(L, 16\)'):
        inferencer.search([np.ones((1, 8), np.float32)])
    with pytest.raises(PRVRConfigError, match='embed_dim'):
        zero_shot = inferencer.model
        zero_shot(
            dict(
                video=torch.ones(1, 2, 8),
                video_mask=torch.ones(1, 2),
                query=torch.ones(1, 1, 8),
                query_mask=torch.ones(1, 1)))


def _clip_files(tmp_path):
    arch = write_tiny_clip_config(str(tmp_path / 'tiny-clip.json'))
    from prvr_mm.models.teachers.open_clip_utils import build_clip
    torch.manual_seed(0)
    weights = str(tmp_path / 'tiny-clip.pt')
    torch.save(build_clip(dict(model_cfg=arch)).model.state_dict(), weights)
    return dict(type='OpenCLIPTextEncoder', model_cfg=arch, pretrained=weights)


def test_real_clip_sentence_path_end_to_end(tmp_path):
    """A typed sentence goes through the real (tiny, random) CLIP text
    tower: the retriever's query is CLIP's sentence embedding
    (``encode_sentences``), so the video whose frame is that embedding
    ranks first; the command line runs without a checkpoint."""
    from mmaction.registry import MODELS
    text_encoder = _clip_files(tmp_path)
    encoder = MODELS.build(dict(text_encoder))
    sentence = 'a red circle moves left'
    emb = encoder.encode_sentences([sentence])[0].numpy()
    dim = len(emb)
    frames = str(tmp_path / 'frames.hdf5')
    planted_frames(
        frames, emb / np.linalg.norm(emb), target=3, frames=(0, ), noise=0)
    inferencer = PRVRInferencer(
        zero_shot_cfg(dim, text_encoder=text_encoder), None)
    inferencer.index(frames, clip_seconds=2.0)
    pred = inferencer.search(sentence, top_k=5)[0]
    assert pred['results'][0]['video_id'] == 'vid3'
    assert pred['results'][0]['score'] == pytest.approx(1.0, abs=1e-3)
    assert pred['results'][0]['moment'][0] == 0.0

    spec = importlib.util.spec_from_file_location(
        'prvr_search_demo', osp.join(ROOT, 'demo', 'prvr_search.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    index = str(tmp_path / 'cli.index.h5')
    opts = [
        '--cfg-options', f'model.embed_dim={dim}',
        f'text_encoder.model_cfg={text_encoder["model_cfg"]}',
        f'text_encoder.pretrained={text_encoder["pretrained"]}'
    ]
    assert demo.main([
        CONFIG, '--index', index, '--build-index', frames, '--clip-seconds',
        '2', *opts
    ]) == 0
    out = str(tmp_path / 'out.json')
    assert demo.main(
        [CONFIG, '--index', index, '--query', sentence, '--json', out,
         *opts]) == 0
    import json
    with open(out) as f:
        assert json.load(f)[0]['results'][0]['video_id'] == 'vid3'
    # a trained model's config without its checkpoint is refused
    trained = osp.join(ROOT, 'configs', 'dlkd_toy.py')
    with pytest.raises(SystemExit) as err:
        demo.main([trained, '--index', index, '--query', 'x'])
    assert err.value.code == 2 and 'checkpoint' in str(err.value.code)
