"""HTTP routes; :data:`pluma.server.app.ROUTER_MODULES` lists which are included."""
