"""HTTP and SSE plumbing shared by the adapters."""
