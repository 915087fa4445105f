"""Entitlement Management: the catalog, entitlements, license transactions and licenses."""
