"""Speed and memory benchmarks (``python -m benchmarks.<name>`` from the
checkout root; figures and how to read them in ``docs/speed.md``).

A package so that the benchmarks and the tests import the shared helpers
(:mod:`benchmarks.roofline`, :mod:`benchmarks.reference_step`,
:mod:`benchmarks.reference_metrics`) the same way; it is not installed with
``prvr_mm``.
"""
