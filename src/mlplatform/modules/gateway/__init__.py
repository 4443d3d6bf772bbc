"""Gateway: identity, access tokens, API keys, external OIDC providers and rate limits."""
