"""The vendor API's routes, one module per tag of its OpenAPI document."""
