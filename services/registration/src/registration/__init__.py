"""Registration: organisations, mapping leads and credentials, and the directory of services."""
