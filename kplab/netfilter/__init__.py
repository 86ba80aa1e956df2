"""kplab.netfilter"""
