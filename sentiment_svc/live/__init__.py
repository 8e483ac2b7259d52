"""Running calls: the one call runner (`call.LiveCall`) over its narrow context, driven by a
socket (the service; two sockets for a call whose legs arrive apart, `legs`), a stored
recording (replay) or a file (`offline`); the shared recognition workers, the audio clock,
the event bus and the metrics."""
