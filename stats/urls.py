from django.urls import path

from stats import views

app_name = "stats"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("reset", views.reset, name="reset"),
]
