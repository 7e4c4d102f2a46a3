"""Every route the simulator answers ahead of Django, in one table.

A path's `{name}` captures one or more characters; the router tries the most literal
template first, so the order here is for reading, not for matching.
"""

from __future__ import annotations

from simulator.providers import model_routes
from simulator.providers.anthropic import batches as message_batches
from simulator.providers.anthropic import routes as anthropic
from simulator.providers.azure import routes as azure
from simulator.providers.gemini import routes as gemini
from simulator.providers.openai import batches, embeddings, files, legacy_completions
from simulator.providers.openai.assistants import routes as assistants
from simulator.providers.openai.chat import routes as chat
from simulator.providers.openai.responses import routes as responses
from simulator.server import ops
from simulator.server.router import Route

ROUTES: tuple[Route, ...] = (
    # Operations
    Route("GET", "/health", ops.health),
    Route("GET", "/llmsim/stats", ops.stats),
    Route("GET", "/metrics", ops.prometheus_metrics),
    # Models: one path for three providers, answered in the caller's shape
    Route("GET", "/v1/models", model_routes.list_models),
    Route("GET", "/v1/models/{model_id}", model_routes.retrieve_model),
    # OpenAI
    Route("POST", "/v1/chat/completions", chat.chat_completions),
    Route("POST", "/v1/completions", legacy_completions.completions),
    Route("POST", "/v1/embeddings", embeddings.embeddings),
    Route("POST", "/v1/responses", responses.create_response),
    Route("POST", "/v1/responses/input_tokens", responses.count_input_tokens),
    Route("GET", "/v1/responses/{response_id}", responses.retrieve_response),
    Route("DELETE", "/v1/responses/{response_id}", responses.delete_response),
    Route("POST", "/v1/responses/{response_id}/cancel", responses.cancel_response),
    Route("GET", "/v1/responses/{response_id}/input_items", responses.list_input_items),
    Route("POST", "/v1/assistants", assistants.create_assistant),
    Route("GET", "/v1/assistants", assistants.list_assistants),
    Route("GET", "/v1/assistants/{assistant_id}", assistants.retrieve_assistant),
    Route("DELETE", "/v1/assistants/{assistant_id}", assistants.delete_assistant),
    Route("POST", "/v1/threads", assistants.create_thread),
    Route("GET", "/v1/threads/{thread_id}", assistants.retrieve_thread),
    Route("DELETE", "/v1/threads/{thread_id}", assistants.delete_thread),
    Route("POST", "/v1/threads/{thread_id}/messages", assistants.create_message),
    Route("GET", "/v1/threads/{thread_id}/messages", assistants.list_messages),
    Route("GET", "/v1/threads/{thread_id}/messages/{message_id}", assistants.retrieve_message),
    Route("POST", "/v1/threads/{thread_id}/runs", assistants.create_run),
    Route("POST", "/v1/threads/runs", assistants.create_thread_and_run),
    Route("GET", "/v1/threads/{thread_id}/runs/{run_id}", assistants.retrieve_run),
    Route("GET", "/v1/threads/{thread_id}/runs", assistants.list_runs),
    Route("POST", "/v1/threads/{thread_id}/runs/{run_id}/cancel", assistants.cancel_run),
    Route("POST", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", assistants.submit_tool_outputs),
    Route("POST", "/v1/files", files.upload_file),
    Route("GET", "/v1/files", files.list_files),
    Route("GET", "/v1/files/{file_id}", files.retrieve_file),
    Route("DELETE", "/v1/files/{file_id}", files.delete_file),
    Route("GET", "/v1/files/{file_id}/content", files.file_content),
    Route("POST", "/v1/batches", batches.create_batch),
    Route("GET", "/v1/batches", batches.list_batches),
    Route("GET", "/v1/batches/{batch_id}", batches.retrieve_batch),
    Route("POST", "/v1/batches/{batch_id}/cancel", batches.cancel_batch),
    # Anthropic
    Route("POST", "/v1/messages", anthropic.create_message),
    Route("POST", "/v1/messages/count_tokens", anthropic.count_tokens),
    # Azure OpenAI: the OpenAI routes' logic under Azure's paths (deployments need ?api-version=)
    Route("POST", "/openai/deployments/{deployment}/chat/completions", azure.chat_completions),
    Route("POST", "/openai/deployments/{deployment}/completions", azure.completions),
    Route("POST", "/openai/deployments/{deployment}/embeddings", azure.embeddings_create),
    Route("POST", "/openai/v1/chat/completions", azure.v1_chat_completions),
    Route("POST", "/openai/v1/completions", azure.v1_completions),
    Route("POST", "/openai/v1/embeddings", azure.v1_embeddings),
    Route("POST", "/openai/v1/deployments/{deployment}/chat/completions", azure.v1_chat_completions),
    Route("POST", "/openai/v1/deployments/{deployment}/completions", azure.v1_completions),
    Route("POST", "/openai/v1/deployments/{deployment}/embeddings", azure.v1_embeddings),
    Route("GET", "/openai/v1/models", azure.v1_list_models),
    Route("POST", "/v1/messages/batches", message_batches.create_batch),
    Route("GET", "/v1/messages/batches", message_batches.list_batches),
    Route("GET", "/v1/messages/batches/{batch_id}", message_batches.retrieve_batch),
    Route("DELETE", "/v1/messages/batches/{batch_id}", message_batches.delete_batch),
    Route("POST", "/v1/messages/batches/{batch_id}/cancel", message_batches.cancel_batch),
    Route("GET", "/v1/messages/batches/{batch_id}/results", message_batches.batch_results),
    # Gemini (GET /v1/models and /v1/models/{id} are shared, above); google-genai calls /v1
    # unless told v1beta, REST examples use /v1beta
    Route("GET", "/v1beta/models", gemini.list_models),
    Route("GET", "/v1beta/models/{model}", gemini.get_model),
    *(
        Route("POST", f"{version}/models/{{model}}:{method}", handler)
        for version in gemini.API_VERSIONS
        for method, handler in gemini.METHODS.items()
    ),
)
