"""HTTP routes of the catalogue (parse, authorize, call a service, shape the response)."""
