# Databricks notebook source
# MAGIC %md
# MAGIC # Alerts after batch inference
# MAGIC Evaluates the alert rules (`alert_rules.yml` beside this notebook, or the file the bundle's
# MAGIC `alert_rules` variable names) on the latest predictions and sends new, worsened and resolved
# MAGIC incidents by email and webhook. Rules and channels are explained in `docs/alerts.md`.
# MAGIC Raises when a delivery fails (the incident is retried at the next run).

# COMMAND ----------

import json

from healthmon.ml.alerts import run_alerts_task

# COMMAND ----------

catalog = dbutils.widgets.get("catalog")
gold_schema = dbutils.widgets.get("gold_schema")
feature_schema = dbutils.widgets.get("feature_schema")
alert_rules = dbutils.widgets.get("alert_rules")

# COMMAND ----------

result = run_alerts_task(alert_rules, catalog=catalog, gold_schema=gold_schema, feature_schema=feature_schema)
print(json.dumps(result, indent=2, default=str))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(result, default=str))
