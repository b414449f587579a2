"""Training and qualification: curricula, training records signed by the trainee, requirements,
and the qualification check the execution service makes before a step is started or signed."""
