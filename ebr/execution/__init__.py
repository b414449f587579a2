"""Batch execution: control recipes, ISA-88 states, phase logic, deviations, corrections."""
