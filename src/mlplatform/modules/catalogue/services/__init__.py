"""The catalogue's business rules. Services take the caller's session and never commit."""
