# Databricks notebook source
print(3)
