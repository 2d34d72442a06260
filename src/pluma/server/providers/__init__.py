"""Chat providers: the contract, its registry, and the built-ins."""
