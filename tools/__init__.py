"""Development tools, run from a checkout and not shipped in the wheel: benchmarks, the load
test and model provisioning. They use the runtime package `sentiment_svc`, never the reverse."""
