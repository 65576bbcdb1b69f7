"""The game: the state of the two players, their objectives and the pure,
jit-able steps that update them (no loop, no files)."""
