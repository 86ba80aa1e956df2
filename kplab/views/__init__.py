"""kplab.views: everything rendered from a Cluster or a Trace. The core returns data; these modules make text,
HTML and DataFrames of it (pandas, matplotlib, networkx, ipywidgets are imported here, never in the core).

    kubectl    kubectl-style tables of objects (text, DataFrames)
    listing    `iptables -t TABLE -L [CHAIN] -n` listings of a rule set
    walk       a Trace's step rows, outcomes listing, static HTML page
    rulewalk   `kplab trace-rules`' report of one packet through one node
    reach      NetworkPolicy verdict rows as a terminal table
    cluster_graph  a first cluster graph (networkx graph, matplotlib drawing)
    picture    the cluster picture: fixed-layout SVG of nodes, pods, interfaces, buses and Service VIPs
    chains     the Service chain view: KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP with probabilities, both layouts
    player     the animated trace player: one self-contained HTML document (t.play(), kplab trace --html)
    flow       the netfilter flow diagram: hooks x tables, routing, conntrack; one hop's path lit (also in the player)
    explorer   the live ipywidgets explorer (kplab.explore): what-if switches, the player and tables redraw
    matrix     the policy matrix: reach rows as a colour grid per port/protocol with the deciding policies
"""
