"""Running recipes: shell lines started by minimake itself (spawn, capture, groups), Python
callables on a process pool (pool, recipes), the runners the scheduler drives (runners), failure
logs (logs), and the same recipes on a Dask cluster (dask, dask_worker).

Nothing here decides what runs: the scheduler hands a runner one task at a time and gets back an
Outcome."""
