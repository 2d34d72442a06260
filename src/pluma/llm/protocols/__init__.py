"""Built-in protocol adapters, one package per wire format."""
