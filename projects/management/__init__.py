"""Management commands of the projects app."""
