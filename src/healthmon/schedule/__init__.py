"""healthmon.schedule"""
