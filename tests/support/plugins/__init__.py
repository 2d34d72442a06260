"""Plugin executables the plugin tests install into a data directory."""
