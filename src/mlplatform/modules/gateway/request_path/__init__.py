"""What every routed request goes through: the gateway middleware (credentials, rate limit, origin, audit), the
same checks for express routes and non-HTTP calls, the guard-call shim, security headers and the sign-in page."""
