"""Course tooling: run notebooks (papermill), build/check/release labs and grade them (nbgrader), CLI."""
