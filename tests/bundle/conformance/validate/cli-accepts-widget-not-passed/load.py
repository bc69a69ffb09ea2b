# Databricks notebook source
catalog = dbutils.widgets.get("catalog")
