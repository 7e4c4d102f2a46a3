from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "LLMSim administration"
admin.site.site_title = "LLMSim"
admin.site.index_title = "Scenarios, model profiles and errors"

# A refused Host header gets the reason and the fix (DJANGO_ALLOWED_HOSTS), not a bare 400.
handler400 = "simulator.exposure.bad_request"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("llmsim/api/", include("simulator.rest.urls")),
    path("llmsim/", include("stats.urls")),
]
