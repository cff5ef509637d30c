from tests.admin.conftest import admin, admin_client  # noqa: F401  (fixtures)
