# Databricks notebook source
dbutils.widgets.get("schema")
