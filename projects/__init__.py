"""The tenant: projects, their keys and settings, webhooks, and the developer's dashboard."""
