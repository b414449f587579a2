"""The example recipes shipped with the package (used by the demo and the tests)."""

from __future__ import annotations

from importlib import resources

from recipes.authoring import parse_yaml
from recipes.model import Recipe

EXAMPLES = {
    "PCM-SOL-24": "paracetamol-oral-solution.yaml",
    "MET-500-DISP": "metformin-dispensing-campaign.yaml",
}
"""Recipe name → file in ``recipes/examples/``."""


def example_text(name: str) -> str:
    """The YAML text of example recipe ``name`` (a key of :data:`EXAMPLES`)."""
    try:
        file = EXAMPLES[name]
    except KeyError:
        raise KeyError(f"no example recipe {name!r}; examples: {', '.join(EXAMPLES)}") from None
    return resources.files("recipes").joinpath("examples", file).read_text(encoding="utf-8")


def example(name: str) -> Recipe:
    """Example recipe ``name``, parsed and checked."""
    return parse_yaml(example_text(name), source=EXAMPLES[name])
