"""MotherFluxer AWS infrastructure: CDK stacks and their typed configuration."""
