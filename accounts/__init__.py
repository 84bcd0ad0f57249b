"""Identity: the developers who own projects, and how they sign up, log in and recover access."""
