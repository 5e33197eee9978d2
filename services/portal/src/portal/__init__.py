"""CSM portal service: The web site people use, over the services' HTTP APIs."""
