"""sg-sentry's library: parsing, policy, revocation and notification, behind the handler in app.py."""
