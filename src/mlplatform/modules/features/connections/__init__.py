"""External data connections: PostgreSQL databases and S3 buckets/prefixes that platform admins register
(with their own credentials, stored encrypted) and grant to projects. A `postgres` data source, or a
`parquet` source on an `s3` connection, reads only through a connection granted to its project; the
platform's own database and object store are never reachable from a data source."""
