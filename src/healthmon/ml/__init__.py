"""healthmon.ml"""
