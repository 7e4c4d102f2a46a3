"""One package per wire format, with the same small files in each."""
