from tests.fixtures.s3 import aws_env, s3_server

__all__ = ["aws_env", "s3_server"]
