"""A real SMTP server on loopback (aiosmtpd) for tests that follow mail end to end.

Placeholder until the mail issue's fixture lands; see tests/mail/.
"""
