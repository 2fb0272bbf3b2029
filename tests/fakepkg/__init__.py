"""A stand-in tool for the CLI and demo tests: each subcommand fails (or succeeds) in one known way."""
