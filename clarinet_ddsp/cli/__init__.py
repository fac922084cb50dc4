"""Command-line entry points (thin absl wrappers around library calls)."""
