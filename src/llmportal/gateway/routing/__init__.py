"""Several deployments per model: which one takes a request, which are cooling down after a
failure, and each one's per-minute limits (see router.Router)."""
