"""End-to-end tests: `dagster dev` (webserver + daemon) driven through its GraphQL API."""
