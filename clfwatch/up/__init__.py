"""``make up``: the whole system on the embedded default (SQLite), on loopback, in one command.

Prepares what is missing (schema, reference model, evaluation set, the three demo targets and
the demo LLM, an admin password and a registration code), then supervises the reference service,
two demo targets, the demo LLM (an openai-chat target), the Evidently UI, Prometheus (when its
binary is on the PATH), the prober, the team API and the dashboard as child processes. Each child
runs in its own process group, so Ctrl-C in the terminal reaches only this supervisor, which then
stops every child, children of children included, instead of leaving a half-stopped tree behind.
Running it again keeps the data: every
step checks before it acts.

    python -m clfwatch.up [--host 127.0.0.1] [--service-port 8080] [--dashboard-port 8501]
                          [--slow-port 8081] [--flaky-port 8082] [--llm-port 38300]
                          [--prober-metrics-port 9101]
                          [--api-port 8088] [--evidently-port 8502] [--prometheus-port 9090]

The modules, by job:

- ``common``: the operator's output line, the errors, the stop flag, URL helpers.
- ``prepare``: steps 1-5, database, model, evaluation set, targets, secrets.
- ``plan``: which processes run on which ports (and the port checks).
- ``observability``: the Evidently UI and the generated Prometheus configuration.
- ``supervise``: start, wait for, watch and stop the children (groups via ``core.processes``).
- ``summary``: what is printed once everything answers.
- ``main``: the command line and the order of it all.
"""
