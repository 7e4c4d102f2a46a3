"""Anthropic's wire format: Messages, count_tokens and Models."""
