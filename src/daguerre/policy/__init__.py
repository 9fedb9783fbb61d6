from daguerre.policy.enforcer import Policy

__all__ = ["Policy"]
