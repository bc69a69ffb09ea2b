"""healthmon.server"""
