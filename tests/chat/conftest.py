from tests.chat.keyauth import key_for

__all__ = ["key_for"]
