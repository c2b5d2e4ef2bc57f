"""One module per subcommand; each defines `add_parser(sub)` and its `run(args) -> int`."""
