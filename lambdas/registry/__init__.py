"""Data access for the instances table (DynamoDB), shared by the router and the health checker."""
