"""Products: the REST resource, its rules and its SQL."""
