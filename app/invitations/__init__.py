"""Invitations: bring a person (back) to the shop, optionally into an organization."""
