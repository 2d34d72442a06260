"""The Pluma server: providers, connections, secrets, HTTP API, web page."""
