"""Calibration, maintenance and the equipment logbook: pages, API and commands.

The rules about equipment (a failed calibration takes the unit to maintenance, the
impact window since its last passing calibration) live in the ``equipment`` package;
this package adds what needs the batches: which batches used a unit, and the one
timeline of usage, cleaning, calibration, maintenance and status changes.
"""
