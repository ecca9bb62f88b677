"""Recipe files: one TOML per paper setup (see `ganforge recipes`)."""
