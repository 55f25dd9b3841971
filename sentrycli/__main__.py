from sentrycli.main import cli

cli(prog_name="sentry")
