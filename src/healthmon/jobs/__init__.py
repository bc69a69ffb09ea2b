"""healthmon.jobs"""
