"""B2B customers: organizations, their members and roles."""
