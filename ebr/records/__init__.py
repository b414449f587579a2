"""Batch records: the machine-readable record, the PDF/A-3 record, BatchML and the auditor's bundle.

``record`` assembles ``record.json`` (one snapshot of everything the batch record
shows); ``html``/``pdf`` render it; ``bpr`` writes the BatchML V0701 batch
production record; ``bundle`` writes the auditor's bundle; ``services`` is what the
CLI and the web views call (each output is audited). Adapters: ``web`` (downloads),
``api`` (deviations, corrections, signatures, genealogy), ``cli`` (``ebr batch record``).
"""
