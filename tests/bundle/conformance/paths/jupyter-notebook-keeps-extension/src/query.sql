-- Databricks notebook source
select 1
