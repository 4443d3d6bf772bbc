"""Who is calling: signing keys, access tokens, API keys, external OIDC providers and the authenticator."""
