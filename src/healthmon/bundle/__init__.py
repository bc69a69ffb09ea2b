"""healthmon.bundle"""
