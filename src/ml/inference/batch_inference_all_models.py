# Databricks notebook source
# MAGIC %md
# MAGIC # Batch inference, all models
# MAGIC Scores every model with a `Champion` alias through the feature store (keys only;
# MAGIC `tag_recommender` through its own path) and replaces today's rows of each predictions table.
# MAGIC Raises when a model fails, so the task shows it.

# COMMAND ----------

import json

from healthmon.ml.inference import batch_inference_all_models

# COMMAND ----------

catalog = dbutils.widgets.get("catalog")
gold_schema = dbutils.widgets.get("gold_schema")
feature_schema = dbutils.widgets.get("feature_schema")

# COMMAND ----------

# Failures raise (the task fails); only a finished build/training/scoring exits normally.
result = batch_inference_all_models(
    catalog=catalog,
    gold_schema=gold_schema,
    feature_schema=feature_schema,
)
print(json.dumps(result, indent=2, default=str))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(result, default=str))
