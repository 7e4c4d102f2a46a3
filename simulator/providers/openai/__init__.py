"""OpenAI's wire format: Chat Completions, Models, Embeddings, legacy Completions, Responses and Assistants.

errors.py (error bodies, headers, the endpoint decorator, the Dialect) and validate.py
(the request-validation vocabulary) serve every endpoint; each endpoint has its module
(embeddings.py, legacy_completions.py, models.py) or its package of request, render and
routes (chat/, responses/, assistants/).
"""
