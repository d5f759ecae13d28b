"""Small real models for tests and smoke runs (random weights, no
download): a tiny RoBERTa with a tokenizer trained on given sentences, a
tiny open_clip architecture with the real vocabulary, a tiny mmaction2
recognizer config."""
from .tiny_models import (make_tiny_recognizer, make_tiny_roberta,
                          write_tiny_clip_config)

__all__ = [
    'make_tiny_roberta', 'write_tiny_clip_config', 'make_tiny_recognizer'
]
