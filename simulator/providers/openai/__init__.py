"""OpenAI's wire format: Chat Completions, Models, Embeddings, legacy Completions, Responses and Assistants."""
