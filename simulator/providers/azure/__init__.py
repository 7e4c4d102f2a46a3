"""Azure OpenAI: OpenAI's API under Azure's paths, headers and gateway errors."""
