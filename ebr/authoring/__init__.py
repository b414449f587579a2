"""Recipe authoring: the recipe pages and ``ebr recipe`` (the rules live in ``recipes/``)."""
