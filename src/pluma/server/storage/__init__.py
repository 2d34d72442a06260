"""What the server keeps on disk: atomic JSON documents, secrets (OS keyring
or a 0600 file) and the page's conversations (SQLite)."""
