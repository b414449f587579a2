"""The plant: equipment pages, alarms and ``ebr plant`` (the model and drivers live in ``equipment/``)."""
