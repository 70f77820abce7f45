"""Use cases of the statistics service: keep the view (projector), answer dashboards (reports)."""
