"""The engine: the stage contract, the pipeline config, the planner that cuts a pipeline into
phases, the tasks a worker runs, the executors (a local process pool, Ray) and the runner."""
