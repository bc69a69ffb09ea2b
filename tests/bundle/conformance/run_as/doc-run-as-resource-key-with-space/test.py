# Databricks notebook source
print("Hello, World!")
