from django.contrib import admin
from django.urls import include, path

from simulator import docs_pages, landing

admin.site.site_header = "LLMSim administration"
admin.site.site_title = "LLMSim"
admin.site.index_title = "Scenarios, model profiles and errors"

# A refused Host header gets the reason and the fix (DJANGO_ALLOWED_HOSTS), not a bare 400.
handler400 = "simulator.exposure.bad_request"

urlpatterns = [
    # The admin's "View site" (admin.site.site_url, "/") leads to the landing page.
    path("", landing.landing, name="landing"),
    path("docs/", docs_pages.page, name="docs"),
    path("docs/<str:name>", docs_pages.page, name="docs-page"),
    path("admin/", admin.site.urls),
    path("llmsim/api/", include("simulator.rest.urls")),
    path("llmsim/", include("stats.urls")),
]
