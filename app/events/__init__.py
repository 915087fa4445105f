"""The event log: every state change an integration cares about, appended in order."""
