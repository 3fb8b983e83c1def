"""Removing nodes from a scene without leaving their display and storage nodes behind.

Inside Slicer the Data module removes the display and storage nodes of a displayable node that is removed;
a scene without that module (``slicer-core``, batch jobs) keeps them, and so would a reader who steps through
a hundred cases. Removing them here makes both behave the same and keeps the scene's node count constant.
"""


def dependentNodes(node) -> list:
    """The display and storage nodes of ``node`` (empty for nodes that have none)."""
    found = []
    for index in range(node.GetNumberOfDisplayNodes() if hasattr(node, "GetNumberOfDisplayNodes") else 0):
        displayNode = node.GetNthDisplayNode(index)
        if displayNode is not None:
            found.append(displayNode)
    for index in range(node.GetNumberOfStorageNodes() if hasattr(node, "GetNumberOfStorageNodes") else 0):
        storageNode = node.GetNthStorageNode(index)
        if storageNode is not None:
            found.append(storageNode)
    return found


def removeNodes(scene, nodes, extraNodes=()) -> int:
    """Remove ``nodes`` and their display and storage nodes from ``scene``.

    Nodes that are None or not in ``scene`` (already removed, e.g. by Slicer's Data module) are skipped.

    :param scene: the MRML scene.
    :param nodes: nodes to remove.
    :param extraNodes: further nodes created for them (e.g. a colour table made for one export) to remove too.
    :return: the number of nodes removed.
    """
    removed = 0
    for node in list(nodes):
        if node is None or node.GetScene() is not scene:
            continue
        # The node first: a volume shown in a slice view that lost its display node gets a new one from the
        # view's layer logic. Its dependents are collected before, and are gone already when Slicer's Data
        # module removed them with it.
        dependents = dependentNodes(node)
        for target in [node, *dependents]:
            if target.GetScene() is scene:
                scene.RemoveNode(target)
                removed += 1
    for node in extraNodes:
        if node is not None and node.GetScene() is scene:
            scene.RemoveNode(node)
            removed += 1
    return removed
