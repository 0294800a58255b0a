"""ALOcc: adaptive lifting, semantic-prototype occupancy head, flow head (``models.alocc.model``)."""
