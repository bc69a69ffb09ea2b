# Databricks notebook source
# MAGIC %md
# MAGIC # Train `privilege_escalation_detector`
# MAGIC Security domain. Thin task notebook: the model's definition (features, target, algorithm)
# MAGIC lives in `healthmon.ml.models`, the shared training flow in `healthmon.ml.training`.
# MAGIC Exits with the training result as JSON (`status` SUCCESS or SKIPPED with a reason); raises on failure.
# MAGIC Generated from the spec by `python -m healthmon.ml.models.generate`: edit the spec, not this file.

# COMMAND ----------

import json

from healthmon.ml.training import train_model

# COMMAND ----------

catalog = dbutils.widgets.get("catalog")
gold_schema = dbutils.widgets.get("gold_schema")
feature_schema = dbutils.widgets.get("feature_schema")

# COMMAND ----------

# Failures raise (the task fails); only a finished build/training/scoring exits normally.
result = train_model(
    "privilege_escalation_detector",
    catalog=catalog,
    gold_schema=gold_schema,
    feature_schema=feature_schema,
)
print(json.dumps(result, indent=2, default=str))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(result, default=str))
