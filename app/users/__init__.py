"""Users of the Identity Management API: creation, lookup, activation, password reset."""
