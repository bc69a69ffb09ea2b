"""healthmon.demodata"""
