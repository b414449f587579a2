"""Batch execution: control recipes, ISA-88 states, phase logic, deviations, corrections, samples.

Adapters: ``web`` (the batch and step pages) and ``web_*`` (worklist, corrections, live
streams, samples), with their page helpers in ``view_*``; ``api`` and ``api_samples``;
``cli`` (``ebr batch``).
"""
