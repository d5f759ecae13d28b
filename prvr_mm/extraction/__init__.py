"""Feature extraction from raw videos and captions into the MS-SL layout
(teacher CLIP files, student clip features, query token features); the
command lines are ``tools/data/extract_*.py``."""
