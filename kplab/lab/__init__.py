"""kplab.lab"""
