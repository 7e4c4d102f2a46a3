"""Google Gemini's wire format: generateContent, streaming, countTokens, embeddings and models."""
