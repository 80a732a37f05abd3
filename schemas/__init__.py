"""Built-in Example schemas (JSON data, one per dataset kind), shipped as package data."""
