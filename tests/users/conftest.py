from tests.auth.conftest import key_client  # noqa: F401  (fixture)
from tests.fixtures.outbox import outbox  # noqa: F401  (fixture)
