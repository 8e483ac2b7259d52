"""CRM webhooks: signed JSON events (`signing`) for contacts started and ended, alerts and
their acknowledgements, taken from the store's outbox (`storage.outbox`) by a background
worker (`worker`) and sent to the configured targets (`config`): generic receivers, or a
CRM's own API through its adapter (`adapters`)."""
