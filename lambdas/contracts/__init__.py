"""Names that cross the infra/code boundary: environment variables and metrics.

The CDK stacks (`infra/`) and the Lambda code (`lambdas/`) both import from here, so a name
changes in one place or the contract tests fail. Nothing here imports AWS, HTTP or databases.
"""
