"""Per-token text encoders: transformers RoBERTa and the open_clip text
tower, built through the registry from locally saved tiny models."""
import pytest
import torch
from mmaction.registry import MODELS

from prvr_mm.errors import PRVRConfigError
from prvr_mm.models.teachers.open_clip_utils import (TINY_CLIP_CFG,
                                                     TINY_CLIP_NAME,
                                                     build_clip,
                                                     resolve_quick_gelu)
from tests.helpers.tiny_models import make_tiny_roberta

SENTENCES = [
    'a red circle moves left', 'the blue square slides up slowly',
    'someone sees a green cross moving right across the screen'
]


@pytest.fixture(scope='module')
def tiny_roberta(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('roberta') / 'tiny-roberta')
    return make_tiny_roberta(folder, SENTENCES * 4, hidden_size=32)


def test_hf_text_encoder(tiny_roberta):
    enc = MODELS.build(dict(type='HFTextEncoder', model=tiny_roberta))
    assert enc.dim == 32 and not enc.encoder.training
    feats, mask = enc.encode(SENTENCES)
    ids = enc.tokenize(SENTENCES)
    lengths = ids['attention_mask'].sum(1)
    assert feats.shape == (3, int(lengths.max()), 32)
    assert feats.dtype == torch.float32 and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == lengths.tolist()
    # real tokens: <s> words </s>; a word of the captions is one token
    tokens = enc.tokenizer.convert_ids_to_tokens(ids['input_ids'][0])
    assert tokens[0] == '<s>' and tokens[int(lengths[0]) - 1] == '</s>'
    # padding does not change the real tokens' features
    alone, _ = enc.encode(SENTENCES[0])
    n = int(lengths[0])
    torch.testing.assert_close(
        alone[0, :n], feats[0, :n], rtol=1e-5, atol=1e-5)
    # truncation and another hidden layer
    enc2 = MODELS.build(
        dict(type='HFTextEncoder', model=tiny_roberta, max_len=4, layer=-2))
    feats2, mask2 = enc2.encode(SENTENCES)
    assert feats2.shape == (3, 4, 32) and mask2.all()
    assert not torch.allclose(feats2[:, :4], feats[:, :4])
    enc.train()
    assert not enc.encoder.training  # frozen stays in eval mode
    with pytest.raises(ValueError, match='max_len=500 exceeds'):
        MODELS.build(
            dict(type='HFTextEncoder', model=tiny_roberta, max_len=500))
    # a random model from a config, tokenizer from the folder
    enc3 = MODELS.build(
        dict(
            type='HFTextEncoder',
            model=tiny_roberta,
            config=dict(
                model_type='roberta',
                vocab_size=len(enc.tokenizer),
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                max_position_embeddings=66,
                pad_token_id=enc.tokenizer.pad_token_id)))
    assert enc3.encode(SENTENCES)[0].shape[-1] == 16 == enc3.dim


def test_open_clip_text_encoder_matches_encode_text():
    torch.manual_seed(0)
    enc = MODELS.build(
        dict(type='OpenCLIPTextEncoder', model_cfg=TINY_CLIP_CFG))
    torch.manual_seed(0)
    bundle = build_clip(dict(model_cfg=TINY_CLIP_CFG))
    clip, tokenizer = bundle.model, bundle.tokenizer
    assert enc.dim == enc.sentence_dim == 32
    assert not any(p.requires_grad for p in enc.parameters())
    feats, mask = enc.encode(SENTENCES)
    ids = tokenizer(SENTENCES)  # the real ViT-B/32 tokenizer (49408 ids)
    ends = ids.argmax(-1)
    assert mask.sum(1).tolist() == (ends + 1).tolist()
    assert feats.shape == (3, int(ends.max()) + 1, 32)
    ref = clip.encode_text(ids)
    torch.testing.assert_close(enc.encode_sentences(SENTENCES), ref)
    # the sentence embedding is the projected end-of-text token
    torch.testing.assert_close(feats[torch.arange(3), ends], ref)
    short, smask = MODELS.build(
        dict(type='OpenCLIPTextEncoder', model_cfg=TINY_CLIP_CFG,
             max_len=4)).encode(SENTENCES)
    assert short.shape == (3, 4, 32) and smask.all()
    raw = MODELS.build(
        dict(
            type='OpenCLIPTextEncoder', model_cfg=TINY_CLIP_CFG,
            project=False))
    assert raw.dim == 32
    with pytest.raises(ValueError, match='max_len=100'):
        MODELS.build(
            dict(
                type='OpenCLIPTextEncoder',
                model_cfg=TINY_CLIP_CFG,
                max_len=100))


def test_build_clip_local_weights(tmp_path):
    torch.manual_seed(1)
    bundle = build_clip(dict(model_cfg=TINY_CLIP_CFG))
    model, preprocess = bundle.model, bundle.preprocess
    path = str(tmp_path / 'tiny.pt')
    torch.save(model.state_dict(), path)
    torch.manual_seed(2)
    again = build_clip(dict(model_cfg=TINY_CLIP_CFG, pretrained=path)).model
    for (k, a), b in zip(model.state_dict().items(),
                         again.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert preprocess.transforms[0].size == 32  # the model's image size
    with pytest.raises(
            ValueError, match='not a local file and not a '
            'pretrained tag'):
        build_clip(dict(model_cfg=TINY_CLIP_CFG, pretrained='no-such-tag'))


def test_one_tiny_clip_config():
    """The tiny CLIP is one JSON file: registered under its name, the dict
    of the tests and the tools."""
    import open_clip

    torch.manual_seed(3)
    by_name = build_clip(dict(model_name=TINY_CLIP_NAME)).model
    torch.manual_seed(3)
    by_cfg = build_clip(dict(model_cfg=TINY_CLIP_CFG)).model
    for a, b in zip(by_name.state_dict().values(),
                    by_cfg.state_dict().values()):
        assert torch.equal(a, b)
    assert open_clip.get_model_config(TINY_CLIP_NAME) == TINY_CLIP_CFG


def test_quick_gelu_of_tags_local_files_and_names(tmp_path):
    """STACK.md item 18: OpenAI's weights use QuickGELU; a local file does
    not say so, so a bare OpenAI-style name is refused without quick_gelu.
    """
    from prvr_mm.models.teachers.open_clip_utils import clip_spec
    path = str(tmp_path / 'weights.bin')
    open(path, 'wb').close()

    def force(**spec):
        return resolve_quick_gelu(clip_spec(spec))

    assert force(model_name='ViT-B-32', pretrained='openai')
    assert not force(model_name='ViT-B-32-quickgelu', pretrained='openai')
    assert not force(model_name='ViT-B-32', pretrained='laion2b_s34b_b79k')
    assert not force(model_name='ViT-B-32')  # random weights: as named
    with pytest.raises(PRVRConfigError, match='ambiguous') as e:
        force(model_name='ViT-B-32', pretrained=path)
    assert path in str(e.value) and 'quick_gelu=True' in str(e.value)
    assert force(model_name='ViT-B-32', pretrained=path, quick_gelu=True)
    assert not force(model_name='ViT-B-32', pretrained=path, quick_gelu=False)
    assert force(model_name='ViT-B-32', force_quick_gelu=True)
    assert not force(model_name='ViT-B-32-quickgelu', pretrained=path)
    assert not force(model_cfg=TINY_CLIP_CFG, pretrained=path)
    with pytest.raises(PRVRConfigError, match='QuickGELU architecture'):
        force(model_name='ViT-B-32-quickgelu', quick_gelu=False)
    # the text encoder goes through the same builder, so it refuses too
    with pytest.raises(PRVRConfigError, match='ambiguous'):
        MODELS.build(
            dict(
                type='OpenCLIPTextEncoder',
                model_name='ViT-B-32',
                pretrained=path))
    # and builds the activation it is told
    model = build_clip(dict(model_cfg=TINY_CLIP_CFG, quick_gelu=True)).model
    act = model.transformer.resblocks[0].mlp.gelu
    assert type(act).__name__ == 'QuickGELU'
