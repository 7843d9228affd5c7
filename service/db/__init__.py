"""SQL storage: the audit trail and the history of every resource created through the API."""
