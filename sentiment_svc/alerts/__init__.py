"""Per-call escalation state and the policy that turns it into alerts with a suggested action."""
