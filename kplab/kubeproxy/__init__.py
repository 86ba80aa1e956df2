"""kplab.kubeproxy"""
