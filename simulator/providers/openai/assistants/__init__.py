"""The Assistants API (beta): assistants, threads, messages and runs."""
