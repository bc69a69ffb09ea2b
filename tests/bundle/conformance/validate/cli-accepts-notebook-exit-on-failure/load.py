# Databricks notebook source
try:
    run()
except Exception as e:
    dbutils.notebook.exit(f"error: {e}")
dbutils.notebook.exit("FAILED")
