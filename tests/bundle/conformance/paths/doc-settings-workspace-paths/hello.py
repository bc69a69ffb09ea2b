# Databricks notebook source
1
