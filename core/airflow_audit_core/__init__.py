"""airflow-audit's shared core: the facts every stage agrees on, written once.

* `errors`: `UserError`, a problem the user can fix, printed as one sentence; `exit_on_user_error`.
* `modes`: `mirror` and `archive`, and the one way to read AIRFLOW_AUDIT_MODE.
* `warehouses`: the warehouses, and the Meltano job that loads each.
* `naming`: the raw schema's name (`airflow-<slug>`), made legal for each warehouse.
* `quoting`: identifiers and string literals in SQL.
* `settings`: the JSON configuration files Meltano passes with `--config`.
* `private_dirs`: the directories a sync writes Airflow's metadata into on its host.
"""
