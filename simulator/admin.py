from django.contrib import admin

from .models import ErrorProfile, ModelProfile, SimulatorSettings


@admin.register(ModelProfile)
class ModelProfileAdmin(admin.ModelAdmin):
    list_display = (
        "model_id",
        "provider",
        "ttft_mean_ms",
        "ttft_stddev_ms",
        "tbt_mean_ms",
        "tbt_stddev_ms",
        "context_window",
        "max_output_tokens",
        "encoding",
        "is_reasoning",
        "listed",
    )
    list_filter = ("provider", "is_reasoning", "encoding", "listed")
    list_editable = ("ttft_mean_ms", "tbt_mean_ms")
    search_fields = ("model_id", "aliases", "owned_by")
    fieldsets = (
        (None, {"fields": ("model_id", "provider", "owned_by", "aliases", "listed", "created_at")}),
        (
            "Latency",
            {
                "fields": (
                    ("ttft_mean_ms", "ttft_stddev_ms"),
                    ("tbt_mean_ms", "tbt_stddev_ms"),
                    "prefill_ms_per_1k_tokens",
                ),
                "description": "Samples come from a normal distribution truncated at 0. "
                "Edits reach running servers within about a second.",
            },
        ),
        ("Limits and tokens", {"fields": ("context_window", "max_output_tokens", "encoding", "is_reasoning")}),
    )


@admin.register(ErrorProfile)
class ErrorProfileAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "rate_limit_rate",
        "server_error_rate",
        "service_unavailable_rate",
        "timeout_rate",
        "timeout_after_ms",
        "timeout_action",
    )
    search_fields = ("name", "description")
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Rates (0 to 1, drawn once per request)",
            {"fields": ("rate_limit_rate", "server_error_rate", "service_unavailable_rate", "timeout_rate")},
        ),
        ("Behaviour", {"fields": ("timeout_after_ms", "timeout_action", "retry_after_ms")}),
    )


@admin.register(SimulatorSettings)
class SimulatorSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "generator", "target_tokens", "latency_profile", "error_profile", "strict_models")
    fieldsets = (
        ("Answers", {"fields": ("generator", "target_tokens", "fixed_text", "seed")}),
        ("Models and latency", {"fields": ("latency_profile", "default_profile", "strict_models")}),
        ("Errors", {"fields": ("error_profile",)}),
        ("Tool calls", {"fields": ("tool_call_rate", "tool_call_rounds", "parallel_tool_calls")}),
    )

    def has_add_permission(self, request) -> bool:
        return not SimulatorSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
