"""kplab.views"""
