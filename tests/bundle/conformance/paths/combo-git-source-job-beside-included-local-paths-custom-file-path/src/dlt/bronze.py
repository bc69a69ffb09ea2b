# Databricks notebook source
import dlt
