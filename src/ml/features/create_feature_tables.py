# Databricks notebook source
# MAGIC %md
# MAGIC # Create feature tables
# MAGIC Builds the five feature tables (cost, security, performance, reliability, quality) from the gold
# MAGIC tables and merges them by primary key into `${catalog}.${feature_schema}`. Tables whose source is
# MAGIC missing or empty are reported; the task fails only when no table could be built.

# COMMAND ----------

import json

from healthmon.ml.features import create_feature_tables

# COMMAND ----------

catalog = dbutils.widgets.get("catalog")
gold_schema = dbutils.widgets.get("gold_schema")
feature_schema = dbutils.widgets.get("feature_schema")

# COMMAND ----------

# Failures raise (the task fails); only a finished build/training/scoring exits normally.
result = create_feature_tables(
    catalog=catalog,
    gold_schema=gold_schema,
    feature_schema=feature_schema,
)
print(json.dumps(result, indent=2, default=str))

# COMMAND ----------

dbutils.notebook.exit(json.dumps(result, default=str))
