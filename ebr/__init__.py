"""Electronic Batch Record system.

Kept tiny on purpose: ``import ebr.core.db`` must pull in nothing else of ours.
"""

__version__ = "0.1.0"
