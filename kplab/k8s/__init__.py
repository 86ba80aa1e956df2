"""kplab.k8s"""
