from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "LLMSim administration"
admin.site.site_title = "LLMSim"
admin.site.index_title = "Scenarios, model profiles and errors"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("llmsim/api/", include("simulator.rest.urls")),
    path("llmsim/", include("stats.urls")),
]
