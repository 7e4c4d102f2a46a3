"""The management API's representations: the models' own fields, references by natural key."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.settings import api_settings

from simulator.models import ErrorProfile, ModelProfile, ResponseRule, Scenario, SimulatorSettings


def by_name(queryset, slug_field: str, kind: str, **kwargs) -> serializers.SlugRelatedField:
    """A reference to a row by its natural key, e.g. a scenario's latency_profile: "gpt-4o"."""
    return serializers.SlugRelatedField(
        slug_field=slug_field,
        queryset=queryset,
        error_messages={"does_not_exist": f"Unknown {kind} '{{value}}'.", "invalid": f"Must name a {kind}."},
        **kwargs,
    )


class ModelCleanMixin:
    """Refuse unknown fields (a misspelt matcher must not widen a rule to every request); then,
    after DRF's field checks, the model's full_clean(): its clean() checks across fields, rule
    actions and regular expressions — the admin's validation, as DRF field errors."""

    # Other names a body may give a field by: alias → field (see RuleSerializer).
    field_aliases: dict[str, str] = {}

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and self.field_aliases:
            for alias, name in self.field_aliases.items():
                if alias in data and name in data:
                    raise serializers.ValidationError({alias: [f"{alias} and {name} are the same field; give one."]})
            data = {self.field_aliases.get(key, key): value for key, value in data.items()}
        return super().to_internal_value(data)

    def validate(self, attrs):
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields) - set(self.field_aliases))
            if unknown:
                known = ", ".join(sorted(self.fields))
                raise serializers.ValidationError({key: [f"Unknown field; known: {known}."] for key in unknown})
        attrs = super().validate(attrs)
        row = copy.copy(self.instance) if self.instance is not None else self.Meta.model()
        for name, value in attrs.items():
            setattr(row, name, value)
        try:
            row.full_clean(validate_unique=False, validate_constraints=False)
        except DjangoValidationError as exc:
            errors = {api_settings.NON_FIELD_ERRORS_KEY if k == NON_FIELD_ERRORS else k: v for k, v in exc}
            raise serializers.ValidationError(errors) from exc
        return attrs


class ModelProfileSerializer(ModelCleanMixin, serializers.ModelSerializer):
    class Meta:
        model = ModelProfile
        exclude = ["id"]


class ErrorProfileSerializer(ModelCleanMixin, serializers.ModelSerializer):
    class Meta:
        model = ErrorProfile
        exclude = ["id"]


class RuleSerializer(ModelCleanMixin, serializers.ModelSerializer):
    scenario = by_name(Scenario.objects.all(), "name", "scenario")
    # The seed's names for matchers, as its mocks files write them (and llmsim_import reads them).
    field_aliases = {"content_contains": "match_last_user", "system_contains": "match_system", "model": "match_model"}

    class Meta:
        model = ResponseRule
        fields = "__all__"
        # validate() names the clash on the `name` field, not as a non-field error.
        validators = []

    def validate(self, attrs):
        attrs = super().validate(attrs)
        scenario = attrs.get("scenario") or self.instance.scenario
        name = attrs.get("name", getattr(self.instance, "name", None))
        clash = ResponseRule.objects.filter(scenario=scenario, name=name)
        if self.instance is not None:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():  # scenario and name are a rule's natural key, as in YAML files
            raise serializers.ValidationError(
                {"name": [f"Scenario '{scenario.name}' has a rule named '{name}' already."]}
            )
        return attrs


class ScenarioRuleSerializer(serializers.ModelSerializer):
    """A rule as listed inside its scenario."""

    class Meta:
        model = ResponseRule
        exclude = ["scenario"]


class ScenarioSerializer(ModelCleanMixin, serializers.ModelSerializer):
    latency_profile = by_name(ModelProfile.objects.all(), "model_id", "model profile", allow_null=True, required=False)
    error_profile = by_name(ErrorProfile.objects.all(), "name", "error profile", allow_null=True, required=False)
    rules = ScenarioRuleSerializer(many=True, read_only=True, help_text="Written at /llmsim/api/rules/.")
    recordings = serializers.IntegerField(
        source="recordings.count",
        read_only=True,
        help_text="How many recordings a replay scenario answers with (llmsim import --cassettes).",
    )

    class Meta:
        model = Scenario
        exclude = ["id"]


class SettingsSerializer(ModelCleanMixin, serializers.ModelSerializer):
    latency_profile = by_name(ModelProfile.objects.all(), "model_id", "model profile", allow_null=True, required=False)
    default_profile = by_name(ModelProfile.objects.all(), "model_id", "model profile", allow_null=True, required=False)
    error_profile = by_name(ErrorProfile.objects.all(), "name", "error profile", allow_null=True, required=False)
    default_scenario = by_name(Scenario.objects.all(), "name", "scenario", allow_null=True, required=False)

    class Meta:
        model = SimulatorSettings
        exclude = ["id"]


class DefaultScenarioSerializer(serializers.Serializer):
    scenario = by_name(
        Scenario.objects.all(),
        "name",
        "scenario",
        allow_null=True,
        help_text="The scenario requests without x-llmsim-scenario get; null: the settings alone.",
    )
