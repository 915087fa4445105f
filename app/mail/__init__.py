"""Mail: message templates, the transactional outbox, SMTP and file senders, the delivery worker."""
