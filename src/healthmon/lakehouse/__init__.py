"""healthmon.lakehouse"""
