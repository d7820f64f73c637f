"""Running batches past one machine: the policy set as files and digest, and the work a Spark or
Dask worker does on its part of the data (`clausewise.spark`, `clausewise.dask`)."""
