# Databricks notebook source
x = dbutils.widgets.get("item")
