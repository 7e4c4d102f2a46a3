"""The management API's views: CRUD viewsets for the scenario data, and the actions around it.

Authentication and permission (staff only) are the REST_FRAMEWORK defaults in settings.
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from redis.exceptions import RedisError
from rest_framework import generics, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import api_view
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from simulator import portability
from simulator.models import ErrorProfile, ModelProfile, ResponseRule, Scenario, SimulatorSettings
from simulator.rest.serializers import (
    DefaultScenarioSerializer,
    ErrorProfileSerializer,
    ModelProfileSerializer,
    RuleSerializer,
    ScenarioSerializer,
    SettingsSerializer,
)
from simulator.state import resets
from simulator.state import sequences as shared_sequences

ENDPOINTS = {
    "scenarios": "scenarios-list",
    "rules": "rules-list",
    "model_profiles": "model-profiles-list",
    "error_profiles": "error-profiles-list",
    "settings": "settings",
    "default_scenario": "default-scenario",
    "reset_sequences": "reset-sequences",
    "reset_rate_limits": "reset-rate-limits",
    "export": "export",
    "import": "import",
    "token": "token",
}


@api_view(["GET"])
def root(request):
    """The management API's endpoints."""
    return Response({key: reverse(f"llmsim_api:{name}", request=request) for key, name in ENDPOINTS.items()})


class ScenarioViewSet(viewsets.ModelViewSet):
    """Scenarios by name, each with its rules (which are written at /llmsim/api/rules/)."""

    queryset = Scenario.objects.select_related("latency_profile", "error_profile").prefetch_related("rules")
    serializer_class = ScenarioSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"


class RuleViewSet(viewsets.ModelViewSet):
    """Response rules by id; ?scenario=<name> lists one scenario's."""

    queryset = ResponseRule.objects.select_related("scenario")
    serializer_class = RuleSerializer

    def get_queryset(self):
        rules = super().get_queryset()
        scenario = self.request.query_params.get("scenario")
        return rules if scenario is None else rules.filter(scenario__name=scenario)


class ModelProfileViewSet(viewsets.ModelViewSet):
    """Model profiles by model id."""

    queryset = ModelProfile.objects.all()
    serializer_class = ModelProfileSerializer
    lookup_field = "model_id"
    lookup_value_regex = "[^/]+"  # model ids have dots: gpt-4.1


class ErrorProfileViewSet(viewsets.ModelViewSet):
    """Error profiles by name."""

    queryset = ErrorProfile.objects.all()
    serializer_class = ErrorProfileSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"


class SettingsView(generics.RetrieveUpdateAPIView):
    """The simulator settings (GET, PUT, PATCH)."""

    serializer_class = SettingsSerializer

    def get_object(self) -> SimulatorSettings:
        return SimulatorSettings.load()


class DefaultScenarioView(APIView):
    """GET the default scenario; POST or PUT {"scenario": "<name>" | null} to switch it."""

    def get(self, request):
        row = SimulatorSettings.objects.select_related("default_scenario").filter(pk=1).first()
        return Response({"scenario": row.default_scenario.name if row and row.default_scenario else None})

    def post(self, request):
        serializer = DefaultScenarioSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        row = SimulatorSettings.load()
        row.default_scenario = serializer.validated_data["scenario"]
        row.save()
        return Response({"scenario": row.default_scenario.name if row.default_scenario else None})

    put = post


class ResetSequencesView(APIView):
    """POST: every rule sequence starts over, in every server process (within a poll interval)."""

    def post(self, request):
        count = resets.reset_sequences()  # every process's own positions
        try:
            async_to_sync(shared_sequences.reset)()  # and, with REDIS_URL, the shared ones
        except (RedisError, OSError) as exc:
            return Response(
                {"detail": f"The sequence positions in Redis could not be reset: {exc}"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"sequence_resets": count})


class ResetRateLimitsView(APIView):
    """POST: every rate-limit bucket is full again: Redis's, and every process's own."""

    def post(self, request):
        try:
            forgotten = async_to_sync(resets.reset_rate_limits)()
        except (RedisError, OSError) as exc:
            return Response(
                {"detail": f"The rate limits in Redis could not be reset: {exc}"},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"buckets_reset": forgotten})


class YAMLRenderer(BaseRenderer):
    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        # Through JSON: DRF's error messages are str subclasses, which safe_dump refuses.
        return portability.dump(json.loads(json.dumps(data))).encode()


class ExportView(APIView):
    """GET everything as llmsim_export writes it: YAML, or JSON with ?format=json."""

    renderer_classes = [YAMLRenderer, JSONRenderer]

    def get(self, request):
        return Response(portability.export_data())


class ImportView(APIView):
    """POST a YAML or JSON file's text, as llmsim_import reads it; ?replace=true, ?dry_run=true."""

    parser_classes = []  # the body is read as text: YAML, of which JSON is a subset
    renderer_classes = [JSONRenderer]

    def post(self, request):
        replace, dry_run = (_flag(request.query_params.get(name)) for name in ("replace", "dry_run"))
        try:
            document = portability.load(request.body, "body")
            result = portability.import_data(document, "body", replace=replace, dry_run=dry_run)
        except portability.PortabilityError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({**result.as_dict(), "dry_run": dry_run})


class TokenView(ObtainAuthToken):
    """POST username and password (a staff user's) → {"token": "..."} for `Authorization: Token …`."""

    authentication_classes = []  # credentials are in the body; no CSRF-checked session involved

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        if not user.is_staff:
            return Response(
                {"detail": "Only staff users may use the management API."}, status=status.HTTP_403_FORBIDDEN
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")
