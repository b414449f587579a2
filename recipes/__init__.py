"""ISA-88 master recipes: model, authoring format, versions, scaling, BatchML."""
