"""Loss-function ablations: many settings x seeds, each setting's seeds in one program."""
