"""What a caller may do and how often: rate limits, the project cache, cache invalidation, job access."""
