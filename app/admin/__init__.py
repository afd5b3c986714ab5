"""Operator endpoints: routing state, replica drain/undrain, balancing mode (scope `admin`)."""
