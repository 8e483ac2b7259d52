"""Persistence behind one typed interface (`base.CallRepository`, reached from async code
through `hop.StoreHop`, opened by `factory.open_store`): the SQLite call store with WAV files
(the embedded default), or PostgreSQL with the recordings in it (a cluster's shared store)."""
