# Databricks notebook source
dbutils.widgets.text("env", "dev")
env = dbutils.widgets.get("env")
