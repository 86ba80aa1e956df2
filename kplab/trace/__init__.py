"""kplab.trace"""
