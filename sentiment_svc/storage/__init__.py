"""Persistence behind one typed interface (`base.CallRepository`, reached from async code
through `hop.StoreHop`): the SQLite call store and the per-call WAV recordings."""
