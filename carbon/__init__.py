"""Carbon accounting (pure): Scope 2, CFE and green-share formulas of CARBON.md."""
