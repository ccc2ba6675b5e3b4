"""Control: maps made from a member's image (edges, line art, depth, pose, or the map as
given) and the ControlNets and control pipelines that follow them."""
