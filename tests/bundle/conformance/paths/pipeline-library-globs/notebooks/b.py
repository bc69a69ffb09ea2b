# Databricks notebook source
print(2)
