"""kplab.cni"""
