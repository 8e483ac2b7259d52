"""The product's vocabulary and the typed values a call produces, and the one JSON codec.

`vocabulary` defines every closed set of words once (channels, actions, categories, ...);
`messages` the values a call publishes to feeds, replays and the CLI; `records` what the
store keeps and returns; `codec` turns them into JSON (and JSON Schema) at the edges.
"""
