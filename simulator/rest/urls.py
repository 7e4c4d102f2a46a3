"""/llmsim/api/…: the management API (trailing slashes optional)."""

from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from simulator.rest import views

app_name = "llmsim_api"

router = SimpleRouter()
router.trailing_slash = "/?"
router.register("scenarios", views.ScenarioViewSet, basename="scenarios")
router.register("rules", views.RuleViewSet, basename="rules")
router.register("model-profiles", views.ModelProfileViewSet, basename="model-profiles")
router.register("error-profiles", views.ErrorProfileViewSet, basename="error-profiles")

urlpatterns = [
    path("", views.root, name="root"),
    *router.urls,
    re_path(r"^settings/?$", views.SettingsView.as_view(), name="settings"),
    re_path(r"^default-scenario/?$", views.DefaultScenarioView.as_view(), name="default-scenario"),
    re_path(r"^reset-sequences/?$", views.ResetSequencesView.as_view(), name="reset-sequences"),
    re_path(r"^reset-rate-limits/?$", views.ResetRateLimitsView.as_view(), name="reset-rate-limits"),
    re_path(r"^export/?$", views.ExportView.as_view(), name="export"),
    re_path(r"^import/?$", views.ImportView.as_view(), name="import"),
    re_path(r"^token/?$", views.TokenView.as_view(), name="token"),
]
