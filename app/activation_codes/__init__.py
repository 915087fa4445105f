"""Activation codes: format and signing, batches, stock and allocation, redemption."""
