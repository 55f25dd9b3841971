"""The `sentry` command: set up, check and exercise a deployed sg-sentry. Never deployed to Lambda."""
