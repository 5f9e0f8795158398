"""A call's stages. Each is one ``async def`` over channels; ``voiced.call`` wires them."""
