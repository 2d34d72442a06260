"""The HTTP edge: the security front, the chat hot routes, the streaming
relay, error bodies in each client's shape, request-body reading and the shared
httpx client."""
