"""Background work: the typed job model, the runner (on demand and on schedule), the scheduler
tick, and the jobs themselves: blue/green rebuild, reconciliation, fold-in, start-up index check."""
